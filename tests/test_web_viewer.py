"""The browser viewer (`--present web`), /metrics and `pvgpu top`, against a real host service,
a guest presenting a known picture, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import PvgpuError
from pvgpu.host.present.web import WebPresenter
from pvgpu.host.service import HostService

pytestmark = pytest.mark.slow

W, H = 320, 240
WAIT_S = 30.0
NAME = "web-test"
RED_BOX = (192, 64, 256, 128)  # x0, y0, x1, y1: pure red, on JPEG's 16-pixel grid
BLUE_BOX = (48, 144, 112, 208)


def picture() -> np.ndarray:
    """What the guest presents: smooth gradients, a red and a blue square."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 4), np.uint8)
    img[..., 0] = 40 + x * 160 // W
    img[..., 1] = 60 + y * 140 // H
    img[..., 2] = 90
    img[..., 3] = 255
    for (x0, y0, x1, y1), rgb in ((RED_BOX, (255, 0, 0)), (BLUE_BOX, (0, 0, 255))):
        img[y0:y1, x0:x1, :3] = rgb
    return img


PICTURE = picture()


def wait_until(what: str, check, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


class InputLog:
    """The session's input sink: what the viewer sent, as QMP events."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[dict] = []

    def __call__(self, events: list[dict]) -> None:
        with self.lock:
            self.events.extend(events)

    def take(self) -> list[dict]:
        with self.lock:
            out, self.events = self.events, []
            return out


def qmp_translation():
    """pvgpu.vm.input.qmp_events; a stand-in of the same shape where that module is absent."""
    try:
        from pvgpu.vm.input import qmp_events
        return qmp_events
    except ImportError:
        def qmp_events(msg: dict) -> list[dict]:
            if msg["type"] == "key":
                return [{"type": "key", "data": {"down": msg["down"], "key": {"type": "qcode", "data": msg["code"]}}}]
            if msg["type"] == "move":
                return [{"type": "abs", "data": {"axis": a, "value": msg[k] * 0x7FFF // max(1, msg[s] - 1)}}
                        for a, k, s in (("x", "x", "width"), ("y", "y", "height"))]
            raise ValueError(msg["type"])
        stub = types.ModuleType("pvgpu.vm.input")
        stub.qmp_events = qmp_events
        sys.modules["pvgpu.vm.input"] = stub
        return qmp_events


class PresentingGuest(threading.Thread):
    """A guest in this process presenting PICTURE about 30 times a second until stopped."""

    def __init__(self, socket_path: str):
        super().__init__(name="web-test-guest", daemon=True)
        self.socket_path = socket_path
        self.stop_event = threading.Event()
        self.session_id: int | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            dev = g.connect(self.socket_path, timeout=WAIT_S)
            self.session_id = dev.connection.region.get("session_id")
            ctx = dev.get_immediate_context()
            chain = dev.create_swap_chain(g.SwapChainDesc(W, H))
            source = dev.create_texture2d(g.Texture2DDesc(W, H), PICTURE)
            self.ready.set()
            while not self.stop_event.is_set():
                ctx.copy_resource(chain.get_buffer(0), source)
                chain.present(0)
                time.sleep(1 / 30)
            chain.wait_idle()
            dev.close()
        except BaseException as e:
            self.error = e
            self.ready.set()


@pytest.fixture(scope="module")
def served():
    web = WebPresenter(port=0)
    inputs = InputLog()
    folder = tempfile.mkdtemp(prefix="pvgpu-web-")
    service = HostService(os.path.join(folder, "host.sock"), region_size=16 << 20, presenters=[web],
                          isolation="thread", name=NAME, input_sink=inputs)
    web.watch(service.presenters)
    service.start()
    guest = PresentingGuest(service.socket_path)
    guest.start()
    try:
        assert guest.ready.wait(WAIT_S) and guest.error is None, f"the guest did not start: {guest.error}"
        yield types.SimpleNamespace(web=web, service=service, inputs=inputs, sid=guest.session_id,
                                    base=web.url, guest=guest)
    finally:
        guest.stop_event.set()
        guest.join(WAIT_S)
        service.stop()
        web.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    # bypass_csp: Playwright evaluates its waits as strings, which the page's policy forbids
    context = browser.new_context(viewport={"width": 900, "height": 700}, bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_viewer(page, served, query: str = "") -> None:
    page.goto(f"{served.base}session/{served.sid}{query}")
    page.wait_for_function(f"window.pvgpuViewer && window.pvgpuViewer.drawn >= 3 && "
                           f"document.getElementById('screen').width === {W}", timeout=WAIT_S * 1000)


def canvas_pixels(page) -> np.ndarray:
    data = page.evaluate("""() => {
        const c = document.getElementById('screen');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = ''; for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));
        return [c.width, c.height, btoa(s)];
    }""")
    w, h, b64 = data
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4)


# --- a minimal WebSocket client (a viewer that is slow, foreign or malformed on purpose) ---------

class RawViewer:
    def __init__(self, base: str, path: str, origin: str | None = None, host: str | None = None,
                 rcvbuf: int | None = None):
        port = int(re.match(r"http://[^:/]+:(\d+)/", base).group(1))
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT_S)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head else 0

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv_message(self) -> tuple[int, bytes]:
        def exact(n):
            out = b""
            while len(out) < n:
                chunk = self.sock.recv(n - len(out))
                if not chunk:
                    raise ConnectionError("closed")
                out += chunk
            return out
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", exact(8))[0]
        return b0 & 0x0F, exact(n)

    def text_message(self, kind: str) -> dict:
        while True:
            op, data = self.recv_message()
            if op == 1 and json.loads(data)["type"] == kind:
                return json.loads(data)

    def close(self) -> None:
        self.sock.close()


def get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=WAIT_S) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict, float]]]:
    """Prometheus' text format (0.0.4): metric -> [(labels, value)]; anything malformed fails."""
    types_: dict[str, str] = {}
    out: dict[str, list] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types_, f"{name} is declared twice"
            types_[name] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, body, value = m.groups()
        assert name in types_, f"{name} has no TYPE line before its samples"
        labels = {}
        if body:
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out.setdefault(name, []).append((labels, float(value)))
    return out


def metric(parsed: dict, metric_name: str, **labels) -> float:
    hits = [v for lab, v in parsed.get(metric_name, []) if all(lab.get(k) == str(v2) for k, v2 in labels.items())]
    assert len(hits) == 1, f"{metric_name}{labels}: {len(hits)} samples in {parsed.get(metric_name)}"
    return hits[0]


# --- tests ----------------------------------------------------------------------------------------

def test_index_lists_the_session(served, page):
    page.goto(served.base)
    row = page.wait_for_selector(f'tr[data-session="{served.sid}"]', timeout=WAIT_S * 1000)
    assert NAME in row.inner_text()
    page.click(f'tr[data-session="{served.sid}"] a')
    page.wait_for_url(f"**/session/{served.sid}")
    page.wait_for_function("window.pvgpuViewer && window.pvgpuViewer.drawn >= 1", timeout=WAIT_S * 1000)


def test_viewer_canvas_shows_the_guest_frame(served, page):
    open_viewer(page, served)
    got = canvas_pixels(page)[..., :3].astype(np.float64)
    want = PICTURE[..., :3].astype(np.float64)
    assert got.shape == want.shape
    mean_abs = np.abs(got - want).mean()
    mse = ((got - want) ** 2).mean()
    psnr = 10 * math.log10(255 ** 2 / mse) if mse else math.inf
    assert mean_abs < 4, f"the canvas differs from the guest's frame by {mean_abs:.2f} levels on average"
    assert psnr > 30, f"PSNR {psnr:.1f} dB"
    for (x0, y0, x1, y1), rgb in ((RED_BOX, (255, 0, 0)), (BLUE_BOX, (0, 0, 255))):
        inner = got[y0 + 4:y1 - 4, x0 + 4:x1 - 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(inner - rgb).max() < 12, f"the {rgb} square shows as {inner}"
        left = got[y0 + 4:y1 - 4, x0 - 12:x0 - 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(left - rgb).max() > 100, f"the pixels left of the {rgb} square are {left}"
    figures = page.evaluate("() => ({fps: document.getElementById('fps').textContent, "
                            "latency: window.pvgpuViewer.latencyMs})")
    assert float(figures["fps"]) > 0 and figures["latency"] > 0


def test_keys_and_pointer_reach_the_guest_as_qmp_events(served, page):
    qmp_events = qmp_translation()
    open_viewer(page, served)
    page.focus("#screen")
    served.inputs.take()
    page.keyboard.press("KeyA")
    want = qmp_events({"type": "key", "code": "KeyA", "down": True}) + \
        qmp_events({"type": "key", "code": "KeyA", "down": False})
    got = wait_until("the key events", lambda: len(served.inputs.events) >= len(want) and served.inputs.take())
    assert got == want
    box = page.locator("#screen").bounding_box()
    # whole client pixels (Chromium rounds the pointer to them), 100 and 50 frame pixels in
    page.mouse.move(math.ceil(box["x"]) + 100, math.ceil(box["y"]) + 50)
    want = qmp_events({"type": "move", "x": 100, "y": 50, "width": W, "height": H})
    got = wait_until("the pointer events", lambda: len(served.inputs.events) >= len(want) and served.inputs.take())
    assert got == want
    assert served.web.web_counters(served.sid)["input_events"] >= 3


def test_malformed_and_excess_viewer_messages_are_counted_and_dropped(served):
    qmp_translation()
    c = served.web.web_counters(served.sid)
    refused, dropped = c["input_refused"], c["input_dropped"]
    served.inputs.take()
    v = RawViewer(served.base, f"/ws/{served.sid}")
    try:
        assert v.status == 101
        bad = ["not json", "[1]", '{"type":"key","code":"KeyA"}', '{"type":"key","code":"<script>","down":true}',
               '{"type":"move","x":500,"y":1,"width":320,"height":240}', '{"type":"wheel","dy":1e309}',
               '{"type":"button","button":true,"down":true}', '{"type":"launch","what":"rockets"}',
               '{"type":"key","code":"KeyA","down":true,"extra":1}']
        for text in bad:
            v.send_text(text)
        v.send_text('{"type":"ping","t":1}')
        assert v.text_message("pong")["t"] == 1  # the connection survived them
        assert c["input_refused"] - refused == len(bad)
        assert served.inputs.take() == []
        for _ in range(3000):
            v.send_text('{"type":"ack","index":0}')
        v.send_text('{"type":"ping","t":2}')
        wait_until("the burst's end", lambda: c["input_dropped"] > dropped or None)
    finally:
        v.close()


def test_slow_viewer_does_not_hold_up_another(served, page):
    c = served.web.web_counters(served.sid)
    drops = c["viewer_drops"]
    slow = RawViewer(served.base, f"/ws/{served.sid}", rcvbuf=4096)  # connects, then never reads
    try:
        assert slow.status == 101
        wait_until("the slow viewer's drops", lambda: c["viewer_drops"] > drops + 5)
        open_viewer(page, served)
        drawn = page.evaluate("window.pvgpuViewer.drawn")
        page.wait_for_function(f"window.pvgpuViewer.drawn >= {drawn + 15}", timeout=WAIT_S * 1000)
        parsed = parse_prometheus(get(served.base + "metrics")[1])
        assert metric(parsed, "pvgpu_web_viewer_drops_total", session=served.sid) > drops + 5
        assert metric(parsed, "pvgpu_web_viewers", session=served.sid) == 2
    finally:
        slow.close()


def test_metrics_parse_and_count_frames(served):
    status, text, headers = get(served.base + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    first = parse_prometheus(text)
    assert metric(first, "pvgpu_sessions") == 1
    frames = metric(first, "pvgpu_frames_total", session=served.sid, name=NAME)
    assert frames > 0
    assert metric(first, "pvgpu_memory_rss_bytes", session=served.sid) > 10 << 20
    assert metric(first, "pvgpu_presenter_drops_total", session=served.sid, presenter="web") >= 0
    assert metric(first, "pvgpu_errors_total", session=served.sid) == 0
    assert metric(first, "pvgpu_session_status", session=served.sid, status="ready") == 1
    later = wait_until("a later scrape with more frames", lambda: (
        p := parse_prometheus(get(served.base + "metrics")[1]),
        metric(p, "pvgpu_frames_total", session=served.sid) > frames and p)[-1])
    assert metric(later, "pvgpu_frame_rate_hz", session=served.sid) > 0
    assert metric(later, "pvgpu_commands_total", session=served.sid) > metric(first, "pvgpu_commands_total",
                                                                                 session=served.sid)


def test_top_once_lists_the_session(served):
    run = subprocess.run([sys.executable, "-m", "pvgpu.cli_top", "--once", "--url", served.base.rstrip("/")],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert run.returncode == 0, run.stderr
    heading, *rows = run.stdout.splitlines()
    assert heading.split()[:4] == ["session", "name", "status", "fps"]
    (row,) = [r for r in rows if r.split()[0] == str(served.sid)]
    assert row.split()[1:3] == [NAME, "ready"]


def test_top_without_a_server_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    run = subprocess.run([sys.executable, "-m", "pvgpu.cli_top", "--once", "--url", f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=WAIT_S)
    assert run.returncode == 2
    assert f"no pvgpu web server at http://127.0.0.1:{port}" in run.stderr
    assert "pvgpu serve --present web" in run.stderr


def test_a_wider_bind_needs_a_token():
    with pytest.raises(PvgpuError, match="token"):
        WebPresenter(host="0.0.0.0", port=0)
    with pytest.raises(PvgpuError, match="at least"):
        WebPresenter(port=0, token="short")


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(PvgpuError, match=f"cannot serve on 127.0.0.1:{port}"):
            WebPresenter(port=port)


def test_with_a_token_every_request_carries_it():
    token = "the-secret-token-42"
    web = WebPresenter(port=0, token=token)
    try:
        base = web.url.split("?")[0]
        assert web.url.endswith(f"?token={token}")
        for path in ("", "metrics", "api/sessions", "static/viewer.js", "?token=wrong"):
            assert get(base + path)[0] == 401, path
        status, _, headers = get(web.url)
        assert status == 200
        cookie = headers["Set-Cookie"].split(";")[0]
        assert get(base + "metrics", {"Cookie": cookie})[0] == 200
        assert RawViewer(base, "/ws/1").status == 401
    finally:
        web.close()


def test_foreign_pages_and_hosts_are_refused(served):
    assert RawViewer(served.base, f"/ws/{served.sid}", origin="http://evil.example").status == 403
    assert RawViewer(served.base, f"/ws/{served.sid}", host="evil.example:80").status == 403
    port = re.match(r"http://[^:/]+:(\d+)/", served.base).group(1)
    assert get(served.base + "metrics", {"Host": f"rebound.example:{port}"})[0] == 403
    assert RawViewer(served.base, "/ws/999999").status == 404
