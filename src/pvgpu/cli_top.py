"""`pvgpu top`: a live terminal view of the sessions a pvgpu host serves.

It reads the web server's /api/sessions (`pvgpu serve --present web`), so it sees the same
figures as the browser page and /metrics: frame rate, the host's frame time, commands per
second, errors, the renderer process's memory, frames presenters dropped and the share of
commands replayed from captured runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import PvgpuError

DEFAULT_URL = "http://127.0.0.1:8470"
TOKEN_ENV = "PVGPU_WEB_TOKEN"
CLEAR = "\x1b[H\x1b[2J"

COLUMNS = [  # heading, width, figure -> text
    ("session", 7, lambda s: str(s["id"])),
    ("name", 18, lambda s: str(s["name"])[:18]),
    ("status", 12, lambda s: str(s["status"])[:12]),
    ("fps", 7, lambda s: f"{s['fps']:.1f}"),
    ("frame ms", 9, lambda s: "-" if s.get("frame_time_ms") is None else f"{s['frame_time_ms']:.2f}"),
    ("cmds/s", 9, lambda s: f"{s['commands_per_s']:.0f}"),
    ("errors", 7, lambda s: str(s["errors"])),
    ("mem MiB", 8, lambda s: "-" if s.get("memory_bytes") is None else f"{s['memory_bytes'] / 2**20:.0f}"),
    ("drops", 7, lambda s: str(s.get("drops_total", 0))),
    ("replayed", 9, lambda s: f"{s.get('replayed_pct', 0.0):.1f}%"),
]


def api_url(url: str) -> str:
    """The /api/sessions address of a server URL (its token kept, or taken from PVGPU_WEB_TOKEN)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PvgpuError(f"--url {url!r} is not an http://HOST:PORT address")
    query = dict(parse_qsl(parts.query))
    if "token" not in query and os.environ.get(TOKEN_ENV):
        query["token"] = os.environ[TOKEN_ENV]
    return urlunsplit((parts.scheme, parts.netloc, "/api/sessions", urlencode(query), ""))


def fetch(url: str, timeout: float = 5.0) -> list[dict]:
    """The sessions the server at `url` reports."""
    shown = url.split("?")[0]
    try:
        with urllib.request.urlopen(api_url(url), timeout=timeout) as r:
            body = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise PvgpuError(f"the pvgpu web server at {shown} wants a token (--url ...?token=TOKEN or "
                             f"{TOKEN_ENV})") from None
        raise PvgpuError(f"the pvgpu web server at {shown} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise PvgpuError(f"no pvgpu web server at {shown} (start pvgpu serve --present web): "
                         f"{getattr(e, 'reason', e)}") from None
    except (ValueError, UnicodeDecodeError):
        raise PvgpuError(f"{shown} is not a pvgpu web server (its /api/sessions is not JSON)") from None
    sessions = body.get("sessions") if isinstance(body, dict) else None
    if not isinstance(sessions, list):
        raise PvgpuError(f"{shown} is not a pvgpu web server (no session list)")
    return sessions


def table(sessions: list[dict]) -> str:
    """The sessions as a fixed-width text table."""
    lines = ["  ".join(h.rjust(w) if i not in (1, 2) else h.ljust(w) for i, (h, w, _) in enumerate(COLUMNS))]
    for s in sessions:
        cells = []
        for i, (_, w, cell) in enumerate(COLUMNS):
            try:
                text = cell(s)
            except (KeyError, TypeError, ValueError):
                text = "?"
            cells.append(text.ljust(w) if i in (1, 2) else text.rjust(w))
        lines.append("  ".join(cells))
    if not sessions:
        lines.append("(no sessions)")
    return "\n".join(lines)


def add_parser(sub, func) -> None:
    """Adds `pvgpu top` to the `pvgpu` parser."""
    t = sub.add_parser("top", help="a live view of the sessions a host serves (needs pvgpu serve --present web)")
    _arguments(t)
    t.set_defaults(func=func)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=DEFAULT_URL,
                   help=f"the web server (default {DEFAULT_URL}; ?token=TOKEN, or set {TOKEN_ENV})")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    p.add_argument("--once", action="store_true", help="print the table once and exit (scripts)")


def main(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise PvgpuError("--interval must be more than 0 seconds")
    if args.once:
        print(table(fetch(args.url)))
        return 0
    try:
        while True:
            text = table(fetch(args.url))
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(f"{CLEAR}pvgpu top  {args.url.split('?')[0]}  {stamp}\n\n{text}\n")
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # python -m pvgpu.cli_top (before `pvgpu top` is wired)
    parser = argparse.ArgumentParser(prog="pvgpu top", description=__doc__.splitlines()[0])
    _arguments(parser)
    try:
        sys.exit(main(parser.parse_args()))
    except PvgpuError as e:
        print(f"pvgpu: error: {e}", file=sys.stderr)
        sys.exit(2)
