"""A session's figures as /api/sessions, /metrics and `pvgpu top` show them, from what the
service tells presenters (SessionInfo: stats, process id) and the presenters' own counters."""

from __future__ import annotations

import os
import statistics
import time
from collections import deque

from ....protocol.enums import DeviceStatus

FRAME_TIME_WINDOW = 60  # presented frames the frame time is the median of
RATE_WINDOW_S = 2.0  # frame and command rates are averaged over this long
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int | None) -> int | None:
    """Resident memory of a process (None when it is gone or unreadable)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def status_name(status: int) -> str:
    try:
        return DeviceStatus(status).name.lower()
    except ValueError:
        return str(status)


class RateMeter:
    """Rates of a growing count (frames, commands), from samples taken now and then."""

    def __init__(self, window_s: float = RATE_WINDOW_S):
        self.window_s = window_s
        self.samples: deque[tuple[float, int, int]] = deque()

    def add(self, frames: int, commands: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.samples.append((now, frames, commands))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()

    def rates(self) -> tuple[float, float]:
        """(frames per second, commands per second); 0 until two samples exist."""
        if len(self.samples) < 2:
            return 0.0, 0.0
        (t0, f0, c0), (t1, f1, c1) = self.samples[0], self.samples[-1]
        dt = t1 - t0
        if dt <= 0:
            return 0.0, 0.0
        return max(0, f1 - f0) / dt, max(0, c1 - c0) / dt


def presenter_counters(presenters: list, session_id: int) -> dict[str, dict]:
    """name -> {received, shown, dropped, cpu_ms_per_frame} of presenters that count per session."""
    out = {}
    for p in presenters:
        get = getattr(p, "counters", None)
        if get is None:
            continue
        c = get(session_id)
        out[getattr(p, "name", type(p).__name__)] = {
            "received": c.received, "shown": c.shown, "dropped": c.dropped,
            "cpu_ms_per_frame": c.cpu_s * 1e3 / c.shown if c.shown else 0.0}
    return out


def numeric_figures(figures: dict) -> dict[str, float]:
    """The numbers of a GPU presenter's figures() (booleans as 0/1; lists and text left out)."""
    out = {}
    for k, v in figures.items():
        if isinstance(v, bool):
            out[k] = float(v)
        elif isinstance(v, (int, float)):
            out[k] = float(v)
    return out


def session_figures(info, presenters: list, meter: RateMeter, web: dict) -> dict:
    """Everything shown about one session (a JSON-ready dict)."""
    st = info.stats() if info.stats is not None else None
    fps, cps = meter.rates()
    busy = list(getattr(st, "frame_busy_s", ()))[-FRAME_TIME_WINDOW:]
    commands = getattr(st, "commands", 0)
    replayed = getattr(st, "commands_replayed", 0)
    counters = presenter_counters(presenters, info.session_id)
    gpu = {name: numeric_figures(f) for name, f in (getattr(st, "gpu_presenters", None) or {}).items()
           if isinstance(f, dict)}
    drops = {name: c["dropped"] for name, c in counters.items()}
    for name, f in gpu.items():
        drops[name] = int(f.get("frames_not_shown", f.get("dropped", 0)))
    return {
        "id": info.session_id,
        "name": info.name,
        "status": status_name(getattr(st, "status", DeviceStatus.INITIALIZING)),
        "frames": getattr(st, "frames", 0),
        "commands": commands,
        "errors": getattr(st, "errors", 0),
        "worker_restarts": getattr(st, "worker_restarts", 0),
        "fps": round(fps, 2),
        "commands_per_s": round(cps, 1),
        "frame_time_ms": round(statistics.median(busy) * 1e3, 3) if busy else None,
        "memory_bytes": rss_bytes(info.process_id() if info.process_id is not None else None),
        "commands_replayed": replayed,
        "replayed_pct": round(100.0 * replayed / commands, 1) if commands else 0.0,
        "display_mode": list(getattr(st, "display_mode", ()) or ()),
        "fullscreen": bool(getattr(st, "fullscreen", False)),
        "presenters": counters,
        "gpu_presenters": gpu,
        "presenter_drops": drops,
        "drops_total": sum(drops.values()),
        "takes_input": info.send_input is not None,
        "web": web,
    }
