"""`--present web`: the browser viewer, /api/sessions and /metrics, served by aiohttp on a
thread and event loop of its own.

Frames: `present()` copies a frame only while someone watches its session (frames nobody
watches are counted as skipped, apart from drops); the presenter's thread encodes the newest
frame once (JPEG by default: see the README for the measurements behind the choice) and hands
the bytes to the event loop, which offers them to every viewer of the session. A viewer holds
at most one frame waiting and WINDOW frames sent but not yet acknowledged by its page (the
page acknowledges each frame once drawn), so a slow viewer, or one that stops reading, loses
frames (counted) and never holds up the others, the encoder or the guest.

Access: binds 127.0.0.1 by default. Any other address needs a token, which every request then
carries (`?token=`, or the cookie the first page load sets). Without a token, requests must
name a loopback host (a web page cannot reach the viewer by DNS rebinding), and a WebSocket's
Origin must be the viewer's own (another site open in the browser cannot watch or type).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from aiohttp import WSMsgType, web

from ....errors import PvgpuError
from ..base import QueuedFrame, QueuedPresenter, SessionInfo
from . import metrics
from .figures import RateMeter, session_figures
from .frames import Encoder, FrameHeader, wall_ms
from .inputs import INPUT_TYPES, MAX_MESSAGE_BYTES, RateLimit, parse_message

log = logging.getLogger("pvgpu.present")

STATIC = os.path.join(os.path.dirname(__file__), "static")
PAGES = {"index.html", "index.js", "viewer.html", "viewer.js", "viewer.css"}
COOKIE = "pvgpu_token"
WINDOW = 2  # frames sent to a viewer and not yet acknowledged
INPUT_RATE = 1000.0  # messages per second per viewer
SAMPLE_S = 0.5  # how often frame and command counts are sampled for rates
DRAWN_KEPT = 20_000  # benchmark reports kept per session
MIN_TOKEN = 8
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token may be in the URL
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                               "frame-ancestors 'none'",
}
_WEB_COUNTERS = ("viewers", "sent", "skipped_no_viewer", "viewer_drops", "encoded", "encoded_bytes",
                 "input_events", "input_ignored", "input_refused", "input_dropped", "input_failed")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class _Viewer:
    ws: web.WebSocketResponse
    session_id: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: bytes | None = None  # the newest frame not yet sent
    texts: deque = field(default_factory=deque)  # replies (pong, ended), sent before frames
    in_flight: int = 0
    limit: RateLimit = field(default_factory=lambda: RateLimit(INPUT_RATE))


class WebPresenter(QueuedPresenter):
    """Serves the browser viewer. `port=0` picks a free port (see `.url`)."""

    name = "web"

    def __init__(self, host: str = "127.0.0.1", port: int = 8470, token: str | None = None, quality: int = 80,
                 codec: str = "jpeg"):
        if token is not None and len(token) < MIN_TOKEN:
            raise PvgpuError(f"web: the token must have at least {MIN_TOKEN} characters")
        if not is_loopback(host) and not token:
            raise PvgpuError(f"web: serving {host} reaches beyond this machine; give a token "
                             f"(--web-token TOKEN or PVGPU_WEB_TOKEN), or bind 127.0.0.1")
        if not 0 <= port <= 65535:
            raise PvgpuError(f"web: port {port} is not 0..65535")
        self.host, self.token = host, token
        self.encoder = Encoder(codec, quality)
        self._pages = {}
        for name in PAGES:
            with open(os.path.join(STATIC, name), "rb") as f:
                self._pages[name] = f.read()
        self._viewers: dict[int, set[_Viewer]] = {}  # event loop only
        self._watching: dict[int, int] = {}  # viewers per session, read by present()
        self._web: dict[int, dict[str, int]] = {}
        self._meters: dict[int, RateMeter] = {}
        self._last: dict[int, bytes] = {}  # the latest frame message, for viewers that join
        self._drawn: dict[int, deque] = {}
        self._timeline: dict[int, deque] = {}
        self._watched: list = [self]
        self._input_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pvgpu-web-input")
        self._aio = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._port = port
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        super().__init__(depth=1)  # only the newest frame waits: older ones are stale for a viewer
        self._server = threading.Thread(target=self._serve, name="pvgpu-web-server", daemon=True)
        self._server.start()
        self._ready.wait(30)
        if self._start_error is not None or self._runner is None:
            err = self._start_error
            self.close()
            raise PvgpuError(f"web: cannot serve on {host}:{port}: {err or 'the server did not start'}")

    # --- what the service and tools call ------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        if ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{self._port}/"
        return url + (f"?token={quote(self.token)}" if self.token else "")

    def watch(self, presenters: list) -> None:
        """The service's presenters, whose counters (drops) /metrics and /api show."""
        self._watched = list(presenters) + ([] if any(p is self for p in presenters) else [self])

    def web_counters(self, session_id: int) -> dict[str, int]:
        c = self._web.get(session_id)
        if c is None:
            c = self._web[session_id] = dict.fromkeys(_WEB_COUNTERS, 0)
            c["copy_cpu_s"] = 0.0  # the frames' copies into the queue, on the service's forwarding thread
        return c

    def drawn_reports(self, session_id: int) -> list[dict]:
        """What pages in benchmark mode (?stamp=1) reported drawing: index, stamp, t (the
        page's wall clock, ms), page_received (when the frame's message reached the page),
        server_received (when the report reached the server, its wall clock)."""
        return list(self._drawn.get(session_id, ()))

    def timeline(self, session_id: int) -> list[tuple[int, float, float]]:
        """(frame index, host PRESENT, encoded) wall-clock ms of the frames encoded lately."""
        return list(self._timeline.get(session_id, ()))

    def server_cpu_s(self) -> float:
        """CPU time the event loop's thread has spent (sending, serving), from /proc."""
        try:
            with open(f"/proc/self/task/{self._server.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def figures(self) -> list[dict]:
        """Every session's figures (what /api/sessions returns)."""
        out = []
        for sid, info in sorted(list(self.sessions.items())):
            meter = self._meters.setdefault(sid, RateMeter())
            try:
                out.append(session_figures(info, self._watched, meter, dict(self.web_counters(sid))))
            except Exception as e:  # one session's figures failing must not hide the others
                log.debug("web: figures of session %d failed: %s", sid, e)
        return out

    # --- QueuedPresenter --------------------------------------------------------------------------
    def started(self, info: SessionInfo) -> None:
        self.web_counters(info.session_id)
        self._meters[info.session_id] = RateMeter()

    def ended(self, session_id: int) -> None:
        self.sessions.pop(session_id, None)
        if not self._aio.is_closed():
            self._aio.call_soon_threadsafe(self._end_viewers, session_id)

    def present(self, session_id: int, frame) -> None:
        if not self._watching.get(session_id):
            self.web_counters(session_id)["skipped_no_viewer"] += 1
            return
        cpu = time.thread_time()
        super().present(session_id, frame)
        self.web_counters(session_id)["copy_cpu_s"] += time.thread_time() - cpu

    def show(self, frame: QueuedFrame) -> None:
        if frame.session_id not in self.sessions:  # it ended while the frame waited
            return
        h, w = frame.pixels.shape[:2]
        presented = wall_ms(frame.presented_at)
        t = time.perf_counter()
        data = self.encoder.encode(frame.pixels)
        encode_ms = (time.perf_counter() - t) * 1e3
        header = FrameHeader(frame.session_id, frame.index, w, h, presented, encode_ms,
                             self.encoder.codec).pack()
        self._timeline.setdefault(frame.session_id, deque(maxlen=DRAWN_KEPT)).append(
            (frame.index, presented, time.time() * 1e3))
        c = self.web_counters(frame.session_id)
        c["encoded"] += 1
        c["encoded_bytes"] += len(data)
        if not self._aio.is_closed():
            self._aio.call_soon_threadsafe(self._offer, frame.session_id, header + data)

    def stop(self) -> None:
        if self._runner is not None and not self._aio.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._aio).result(15)
            except Exception as e:
                log.warning("web: shutting the server down failed: %s", e)
            self._aio.call_soon_threadsafe(self._aio.stop)
        self._server.join(timeout=15)
        self._input_pool.shutdown(wait=False, cancel_futures=True)

    # --- the event loop's thread -------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._aio)
        try:
            self._aio.run_until_complete(self._start())
        except BaseException as e:
            self._start_error = e
            self._ready.set()
            self._aio.close()
            return
        self._ready.set()
        try:
            self._aio.run_forever()
        finally:
            self._aio.close()

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=4096)
        app.router.add_get("/", self._page("index.html"))
        app.router.add_get(r"/session/{sid:\d{1,9}}", self._viewer_page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get(r"/ws/{sid:\d{1,9}}", self._websocket)
        app.router.add_get("/api/sessions", self._api_sessions)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner
        self._sampler = asyncio.get_running_loop().create_task(self._sample())

    async def _shutdown(self) -> None:
        self._sampler.cancel()
        for viewers in list(self._viewers.values()):
            for v in list(viewers):
                await v.ws.close(code=1001, message=b"pvgpu is stopping")
        await self._runner.cleanup()

    async def _sample(self) -> None:
        while True:
            for sid, info in list(self.sessions.items()):
                try:
                    st = info.stats() if info.stats is not None else None
                except Exception:
                    continue
                self._meters.setdefault(sid, RateMeter()).add(getattr(st, "frames", 0), getattr(st, "commands", 0))
            await asyncio.sleep(SAMPLE_S)

    def _offer(self, session_id: int, message: bytes) -> None:
        if session_id not in self.sessions:
            return
        self._last[session_id] = message
        for v in self._viewers.get(session_id, ()):
            if v.pending is not None:
                self.web_counters(session_id)["viewer_drops"] += 1
            v.pending = message
            v.wake.set()

    def _end_viewers(self, session_id: int) -> None:
        self._last.pop(session_id, None)
        self._meters.pop(session_id, None)
        self._drawn.pop(session_id, None)
        self._timeline.pop(session_id, None)
        self._web.pop(session_id, None)
        for v in self._viewers.get(session_id, ()):
            v.texts.append({"type": "ended"})
            v.wake.set()

    async def _send_loop(self, v: _Viewer) -> None:
        c = self.web_counters(v.session_id)
        while not v.ws.closed:
            await v.wake.wait()
            v.wake.clear()
            while v.texts:
                msg = v.texts.popleft()
                await v.ws.send_str(json.dumps(msg))
                if msg["type"] == "ended":
                    await v.ws.close(code=1000, message=b"the session ended")
                    return
            while v.pending is not None and v.in_flight < WINDOW and not v.ws.closed:
                message, v.pending = v.pending, None
                v.in_flight += 1
                await v.ws.send_bytes(message)
                c["sent"] += 1

    # --- HTTP ---------------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if not self.token and not is_loopback(request.url.host or ""):
            return web.Response(status=403, text="pvgpu: this viewer answers to localhost only\n")
        given = request.query.get("token")
        if self.token:
            supplied = given if given is not None else request.cookies.get(COOKIE)
            if supplied is None or not hmac.compare_digest(supplied.encode(), self.token.encode()):
                return web.Response(status=401, text="pvgpu: a token is required (open the URL pvgpu printed)\n")
        response = await handler(request)
        if not response.prepared:
            response.headers.update(_HEADERS)
            if self.token and given is not None:
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    def _page(self, name: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=self._pages[name], content_type=_CONTENT_TYPES[os.path.splitext(name)[1]])
        return handler

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._pages:
            raise web.HTTPNotFound()
        return await self._page(name)(request)

    def _session(self, request: web.Request) -> SessionInfo:
        info = self.sessions.get(int(request.match_info["sid"]))
        if info is None:
            raise web.HTTPNotFound(text="pvgpu: no such session (it may have ended)\n")
        return info

    async def _viewer_page(self, request: web.Request) -> web.Response:
        self._session(request)
        return await self._page("viewer.html")(request)

    async def _api_sessions(self, request: web.Request) -> web.Response:
        body = {"server_time": time.time() * 1e3, "codec": self.encoder.codec, "quality": self.encoder.quality,
                "sessions": self.figures()}
        return web.json_response(body)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(self.figures()), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        info = self._session(request)
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="pvgpu: a viewer of another site may not connect\n")
        sid = info.session_id
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES * 4, compress=False, heartbeat=30)
        await ws.prepare(request)
        v = _Viewer(ws, sid)
        self._viewers.setdefault(sid, set()).add(v)
        self._watching[sid] = len(self._viewers[sid])
        c = self.web_counters(sid)
        c["viewers"] = self._watching[sid]
        v.texts.append({"type": "hello", "session": sid, "name": info.name, "codec": self.encoder.codec,
                        "mime": self.encoder.mime, "server_time": time.time() * 1e3,
                        "takes_input": info.send_input is not None, "window": WINDOW})
        if sid in self._last:
            v.pending = self._last[sid]
        v.wake.set()
        sender = asyncio.get_running_loop().create_task(self._send_loop(v))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(v, info, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.web_counters(sid)["input_refused"] += 1
        finally:
            sender.cancel()
            self._viewers[sid].discard(v)
            self._watching[sid] = len(self._viewers[sid])
            if sid in self._web:
                self._web[sid]["viewers"] = self._watching[sid]
            if not self._viewers[sid]:
                del self._viewers[sid]
                self._watching.pop(sid, None)
        return ws

    def _on_text(self, v: _Viewer, info: SessionInfo, text: str) -> None:
        c = self.web_counters(v.session_id)
        if not v.limit.allow():
            c["input_dropped"] += 1
            return
        try:
            msg = parse_message(text)
        except ValueError as e:
            c["input_refused"] += 1
            log.debug("web: session %d: refused a viewer message: %s", v.session_id, e)
            return
        kind = msg["type"]
        if kind == "ack":
            v.in_flight = max(0, v.in_flight - 1)
            v.wake.set()
        elif kind == "ping":
            v.texts.append({"type": "pong", "t": msg["t"], "server": time.time() * 1e3})
            v.wake.set()
        elif kind == "drawn":
            self._drawn.setdefault(v.session_id, deque(maxlen=DRAWN_KEPT)).append(
                {"index": msg["index"], "stamp": msg["stamp"], "t": msg["t"], "page_received": msg["received"],
                 "server_received": time.time() * 1e3})
        elif kind in INPUT_TYPES:
            self._input(info, msg, c)

    def _input(self, info: SessionInfo, msg: dict, c: dict) -> None:
        if info.send_input is None:
            c["input_ignored"] += 1
            return
        from ....vm.input import qmp_events  # the VM side loads only when a VM takes input
        try:
            events = qmp_events(msg)
        except ValueError as e:
            c["input_refused"] += 1
            log.debug("web: session %d: refused input %s: %s", info.session_id, msg, e)
            return
        c["input_events"] += 1
        if events:
            self._input_pool.submit(self._deliver_input, info, events, c)

    @staticmethod
    def _deliver_input(info: SessionInfo, events: list[dict], c: dict) -> None:
        # On a thread of its own, in order: QMP is a socket that may be slow to answer.
        try:
            info.send_input(events)
        except Exception as e:
            c["input_failed"] += 1
            log.warning("web: session %d: input did not reach the guest: %s", info.session_id, e)
