"use strict";
// One session, live: frames arrive as binary WebSocket messages (a 44-byte little-endian
// header, then a JPEG or WebP image: see frames.py), input leaves as JSON text messages.

const MAGIC = 0x46475650; // "PVGF"
const STAMP_BITS = 20; // benchmark stamp: 16x16 blocks along the top row, white = 1
const STAMP_BLOCK = 16;
const KEEP = 60; // frames the figures are taken over

const search = new URLSearchParams(location.search);
const token = search.get("token");
const stampMode = search.get("stamp") === "1";
const sessionId = location.pathname.split("/").filter(Boolean).pop();
const canvas = document.getElementById("screen");
const ctx = canvas.getContext("2d", { alpha: false });
// Benchmark mode reads the stamp back through a small canvas of its own, so the screen's
// canvas stays on the path an ordinary viewer takes.
const stampCanvas = stampMode ? new OffscreenCanvas(STAMP_BITS * STAMP_BLOCK, STAMP_BLOCK) : null;
const stampCtx = stampMode ? stampCanvas.getContext("2d", { willReadFrequently: true }) : null;
const $ = (id) => document.getElementById(id);

let ws = null;
let mime = "image/jpeg";
let takesInput = false;
let ended = false;
let clockOffset = 0; // server wall clock - this page's wall clock (ms)
let bestRtt = Infinity;
let next = null; // the newest frame not yet decoded
let decoding = false;
let lost = 0; // frames replaced by newer ones before they could be drawn
const drawnAt = [];
const latencies = [];
// What the page has done, for tests and the curious (devtools).
const viewer = (window.pvgpuViewer = { drawn: 0, lost: 0, latencyMs: NaN });

// The page's clock at its own precision, comparable with time.time() on the server.
const nowWall = () => performance.timeOrigin + performance.now();

function state(text) { $("state").textContent = text; }
function send(msg) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); }

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  ws = new WebSocket(proto + "//" + location.host + "/ws/" + sessionId + query);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { state(""); ping(); };
  ws.onclose = () => { if (!ended) state("disconnected: reload to reconnect"); };
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") onText(JSON.parse(ev.data));
    else onFrame(ev.data);
  };
}

function ping() { send({ type: "ping", t: nowWall() }); }

function onText(msg) {
  if (msg.type === "hello") {
    mime = msg.mime;
    takesInput = msg.takes_input;
    document.title = msg.name + " – pvgpu";
    $("title").textContent = msg.name;
    for (let i = 1; i <= 4; i++) setTimeout(ping, 150 * i);
    setInterval(ping, 10000);
  } else if (msg.type === "pong") {
    const now = nowWall();
    const rtt = now - msg.t;
    if (rtt <= bestRtt) { bestRtt = rtt; clockOffset = msg.server - (msg.t + now) / 2; }
  } else if (msg.type === "ended") {
    ended = true;
    state("the session ended");
  }
}

function onFrame(buf) {
  if (buf.byteLength < 44) return;
  const dv = new DataView(buf);
  if (dv.getUint32(0, true) !== MAGIC) return;
  const frame = {
    headerLength: dv.getUint16(4, true),
    index: Number(dv.getBigUint64(12, true)),
    width: dv.getUint32(20, true),
    height: dv.getUint32(24, true),
    presented: dv.getFloat64(28, true),
    received: nowWall(),
    buf,
  };
  if (next !== null) { lost++; send({ type: "ack", index: next.index }); }
  next = frame;
  if (!decoding) drawFrames();
}

function readStamp() {
  stampCtx.drawImage(canvas, 0, 0, stampCanvas.width, stampCanvas.height, 0, 0, stampCanvas.width, stampCanvas.height);
  const img = stampCtx.getImageData(0, 0, stampCanvas.width, stampCanvas.height).data;
  let value = 0;
  for (let bit = 0; bit < STAMP_BITS; bit++) {
    const o = ((STAMP_BLOCK / 2) * STAMP_BITS * STAMP_BLOCK + bit * STAMP_BLOCK + STAMP_BLOCK / 2) * 4;
    const luma = (img[o] + img[o + 1] + img[o + 2]) / 3;
    if (luma > 128) value |= 1 << bit;
  }
  return value;
}

async function drawFrames() {
  decoding = true;
  while (next !== null) {
    const frame = next;
    next = null;
    try {
      const blob = new Blob([new Uint8Array(frame.buf, frame.headerLength)], { type: mime });
      const bitmap = await createImageBitmap(blob);
      if (canvas.width !== frame.width || canvas.height !== frame.height) {
        canvas.width = frame.width;
        canvas.height = frame.height;
      }
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      const t = nowWall();
      if (stampMode) send({ type: "drawn", index: frame.index, stamp: readStamp(), t, received: frame.received });
      figures(frame, t);
    } catch (e) {
      state("a frame could not be drawn: " + e.message);
    } finally {
      send({ type: "ack", index: frame.index });
    }
  }
  decoding = false;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

function figures(frame, t) {
  drawnAt.push(t);
  latencies.push(t - (frame.presented - clockOffset));
  if (drawnAt.length > KEEP) drawnAt.shift();
  if (latencies.length > KEEP) latencies.shift();
  if (drawnAt.length >= 2) {
    const span = drawnAt[drawnAt.length - 1] - drawnAt[0];
    $("fps").textContent = ((drawnAt.length - 1) * 1000 / span).toFixed(1);
    $("frametime").textContent = (span / (drawnAt.length - 1)).toFixed(1);
  }
  viewer.drawn++;
  viewer.lost = lost;
  viewer.latencyMs = median(latencies);
  $("latency").textContent = viewer.latencyMs.toFixed(1);
  $("lost").textContent = String(lost);
}

// --- input: reaches the guest when the session takes it (a VM run by pvgpu vm run) -------------
function framePoint(e) {
  const r = canvas.getBoundingClientRect();
  const x = Math.floor((e.clientX - r.left) * canvas.width / r.width);
  const y = Math.floor((e.clientY - r.top) * canvas.height / r.height);
  return {
    x: Math.min(Math.max(x, 0), canvas.width - 1),
    y: Math.min(Math.max(y, 0), canvas.height - 1),
  };
}

function key(e, down) {
  if (!takesInput || !/^[A-Za-z0-9]{1,32}$/.test(e.code)) return;
  e.preventDefault();
  if (down && e.repeat) return; // the guest repeats keys itself
  send({ type: "key", code: e.code, down });
}

let pendingMove = null;
function flushMove() {
  if (pendingMove) send({ type: "move", ...pendingMove, width: canvas.width, height: canvas.height });
  pendingMove = null;
}

canvas.addEventListener("keydown", (e) => key(e, true));
canvas.addEventListener("keyup", (e) => key(e, false));
canvas.addEventListener("mousemove", (e) => {
  if (!takesInput) return;
  if (pendingMove === null) requestAnimationFrame(flushMove);
  pendingMove = framePoint(e);
});
canvas.addEventListener("mousedown", (e) => {
  canvas.focus();
  if (!takesInput || e.button > 4) return;
  e.preventDefault();
  pendingMove = framePoint(e);
  flushMove();
  send({ type: "button", button: e.button, down: true });
});
canvas.addEventListener("mouseup", (e) => {
  if (takesInput && e.button <= 4) send({ type: "button", button: e.button, down: false });
});
canvas.addEventListener("wheel", (e) => {
  if (!takesInput) return;
  e.preventDefault();
  const scale = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1;
  send({ type: "wheel", dy: Math.max(-1e5, Math.min(1e5, Math.round(e.deltaY * scale))) });
}, { passive: false });
canvas.addEventListener("contextmenu", (e) => { if (takesInput) e.preventDefault(); });

if (token) $("back").href = "/?token=" + encodeURIComponent(token);
connect();
