"use strict";
// The session list: /api/sessions every second.
const search = new URLSearchParams(location.search);
const token = search.get("token");
const suffix = token ? "?token=" + encodeURIComponent(token) : "";

function cell(row, text) {
  const td = document.createElement("td");
  if (text instanceof Node) td.appendChild(text); else td.textContent = text;
  row.appendChild(td);
}

function fmt(v, digits) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

async function refresh() {
  let body;
  try {
    const r = await fetch("/api/sessions" + suffix, { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    body = await r.json();
    document.getElementById("state").textContent = "";
  } catch (e) {
    document.getElementById("state").textContent = "server unreachable (" + e.message + ")";
    return;
  }
  const tbody = document.querySelector("#sessions tbody");
  tbody.replaceChildren();
  for (const s of body.sessions) {
    const row = document.createElement("tr");
    row.dataset.session = s.id;
    const link = document.createElement("a");
    link.href = "/session/" + s.id + suffix;
    link.textContent = String(s.id);
    cell(row, link);
    cell(row, s.name);
    cell(row, s.status);
    cell(row, fmt(s.fps, 1));
    cell(row, fmt(s.frame_time_ms, 2));
    cell(row, fmt(s.commands_per_s, 0));
    cell(row, String(s.errors));
    cell(row, s.memory_bytes === null ? "–" : fmt(s.memory_bytes / 1048576, 0));
    cell(row, String(s.drops_total));
    cell(row, String(s.web.viewers));
    tbody.appendChild(row);
  }
  document.getElementById("none").hidden = body.sessions.length > 0;
}

refresh();
setInterval(refresh, 1000);
