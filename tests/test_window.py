"""The window presenter under Xvfb: a screenshot of each session's window equals the frame the
guest presented (random pixels copied into the back buffer, so every byte is known), the
window follows ResizeBuffers, a window alone reads nothing back, closing it keeps the session,
and without a display HostService refuses the option at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from PIL import ImageGrab

from pvgpu import guest as g
from pvgpu.errors import PvgpuError
from pvgpu.host.present.headless import FrameCallback
from pvgpu.host.present.window import WindowOptions, release_display
from pvgpu.host.service import HostService
from pvgpu.protocol.enums import DeviceStatus

WAIT_S = 30.0


@pytest.fixture(scope="module")
def xdisplay():
    """A fresh Xvfb (black root window) as DISPLAY for this module."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (setup.sh installs it for the tests)")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-br",
                             "-nolisten", "tcp"], pass_fds=[write], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()  # Xvfb writes its display number once it accepts clients
    if not number:
        proc.kill()
        pytest.fail(f"Xvfb did not start (exit code {proc.wait()})")
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield f":{number}"
    finally:
        assert release_display(), "a window is still open at the end of the module"
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def socket_path():
    folder = tempfile.mkdtemp(prefix="pvgpu-win-")  # short: UNIX socket paths are limited
    yield os.path.join(folder, "host.sock")
    shutil.rmtree(folder, ignore_errors=True)


class NoiseGuest:
    """A guest (in this process) whose frames are random pixels copied into the back buffer."""

    def __init__(self, path: str, width: int, height: int, fmt=g.DxgiFormat.R8G8B8A8_UNORM):
        self.dev = g.connect(path, timeout=WAIT_S)
        self.ctx = self.dev.get_immediate_context()
        self.fmt = fmt
        self.chain = self.dev.create_swap_chain(g.SwapChainDesc(width, height, fmt))
        self.rng = np.random.default_rng(7)

    @property
    def size(self) -> tuple[int, int]:
        return self.chain.desc.width, self.chain.desc.height

    def frame(self) -> np.ndarray:
        """Present one frame; the RGB the window must show."""
        w, h = self.size
        pixels = self.rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        tex = self.dev.create_texture2d(g.Texture2DDesc(w, h, self.fmt), pixels)
        self.ctx.copy_resource(self.chain.get_buffer(0), tex)
        tex.release()
        self.chain.present(0)
        self.chain.wait_idle()
        bgra = self.fmt in (g.DxgiFormat.B8G8R8A8_UNORM, g.DxgiFormat.B8G8R8A8_UNORM_SRGB)
        return pixels[:, :, [2, 1, 0]] if bgra else pixels[:, :, :3]

    def close(self) -> None:
        self.dev.close()


def window_figures(service: HostService, want_shown: int) -> dict:
    """The window's figures once it has shown `want_shown` frames (a worker reports them a
    little after the frames)."""
    (record,) = service.sessions.values()
    deadline = time.monotonic() + WAIT_S
    while True:
        fig = record.stats.gpu_presenters.get("window", {})
        if fig.get("frames_shown", 0) >= want_shown or time.monotonic() > deadline:
            return fig
        time.sleep(0.05)


def screen(display: str, x: int, y: int, w: int, h: int) -> np.ndarray:
    return np.asarray(ImageGrab.grab(xdisplay=display))[y:y + h, x:x + w]


def wait_screen(display: str, fig: dict, want: np.ndarray) -> np.ndarray:
    """The window's region of the screen, once it equals `want` (the X server shows a
    presented image a little after the present returns) or after WAIT_S."""
    x, y = fig["position"]
    h, w = want.shape[:2]
    deadline = time.monotonic() + WAIT_S
    while True:
        got = screen(display, x, y, w, h)
        if np.array_equal(got, want) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, f"{what}: screenshot {got.shape}, frame {want.shape}"
    bad = np.argwhere(np.any(got != want, axis=2))
    assert not len(bad), (f"{what}: {len(bad)} of {want.shape[0] * want.shape[1]} pixels differ; first at (y, x) "
                          f"{tuple(bad[0])}: window {got[tuple(bad[0])].tolist()}, frame {want[tuple(bad[0])].tolist()}")


def session_of(service: HostService):
    (record,) = service.sessions.values()
    return record


@pytest.mark.slow
@pytest.mark.parametrize("isolation,fmt", [
    ("thread", g.DxgiFormat.R8G8B8A8_UNORM), ("thread", g.DxgiFormat.B8G8R8A8_UNORM),
    ("thread", g.DxgiFormat.R8G8B8A8_UNORM_SRGB), ("process", g.DxgiFormat.R8G8B8A8_UNORM)],
    ids=["thread-rgba8", "thread-bgra8", "thread-rgba8-srgb", "process-rgba8"])
def test_the_window_shows_the_guest_frame(xdisplay, socket_path, isolation, fmt):
    with HostService(socket_path, region_size=16 << 20, isolation=isolation, window=WindowOptions(),
                     name="test-vm") as service:
        guest = NoiseGuest(socket_path, 97, 61, fmt)
        guest.frame()
        want = guest.frame()
        fig = window_figures(service, 2)
        assert fig["frames_shown"] == 2 and fig["frames_not_shown"] == 0, fig
        assert fig["size"] == [97, 61] and fig["window_open"], fig
        assert_same(wait_screen(xdisplay, fig, want), want, f"{isolation} {fmt.name}")
        record = session_of(service)
        if isolation == "thread":
            import glfw
            (window,) = record.session.gpu_presenters
            assert glfw.get_window_title(window.window) == "pvgpu \u2014 test-vm (97x61)"
            assert tuple(glfw.get_window_size(window.window)) == (97, 61)
        guest.close()
        assert record.ended.wait(WAIT_S)
        # The session's end closed its window: the black root window shows again.
        x, y = fig["position"]
        assert not screen(xdisplay, x, y, 97, 61).any(), "the window is still on the screen after the session ended"


@pytest.mark.slow
def test_the_window_follows_resize_buffers(xdisplay, socket_path):
    with HostService(socket_path, region_size=16 << 20, isolation="thread", window=WindowOptions(vsync=False)) as service:
        guest = NoiseGuest(socket_path, 96, 64)
        want = guest.frame()
        fig = window_figures(service, 1)
        assert_same(wait_screen(xdisplay, fig, want), want, "before the resize")
        guest.chain.resize_buffers(0, 150, 110)
        want = guest.frame()
        fig = window_figures(service, 2)
        assert fig["size"] == [150, 110] and fig["resizes"] == 1, fig
        assert_same(wait_screen(xdisplay, fig, want), want, "after ResizeBuffers to 150x110")
        import glfw
        (window,) = session_of(service).session.gpu_presenters
        assert tuple(glfw.get_window_size(window.window)) == (150, 110)
        assert glfw.get_window_title(window.window).endswith("(150x110)")
        x, y = fig["position"]
        assert not screen(xdisplay, x + 150, y, 1, 110).any(), "the window is wider than the frame"
        guest.chain.resize_buffers(0, 40, 30)
        want = guest.frame()
        fig = window_figures(service, 3)
        assert_same(wait_screen(xdisplay, fig, want), want, "after ResizeBuffers down to 40x30")
        assert not screen(xdisplay, x + 40, y, 110, 110).any(), "the window did not shrink with the frame"
        guest.close()


@pytest.mark.slow
@pytest.mark.parametrize("cpu_presenter", [False, True], ids=["window-alone", "window-and-callback"])
def test_a_window_alone_reads_nothing_back(xdisplay, socket_path, cpu_presenter):
    """The renderer's read-back staging buffers stay unmade when only the window presents; a
    CPU presenter beside it makes one (the check can fail)."""
    got = []
    presenters = [FrameCallback(lambda sid, frame: got.append(frame.index))] if cpu_presenter else []
    with HostService(socket_path, region_size=16 << 20, isolation="thread", window=WindowOptions(),
                     presenters=presenters) as service:
        guest = NoiseGuest(socket_path, 128, 64)  # rows of 512 bytes: the mapped-staging path
        for _ in range(3):
            want = guest.frame()
        fig = window_figures(service, 3)
        assert fig["frames_shown"] == 3, fig
        assert_same(wait_screen(xdisplay, fig, want), want, "the last frame")
        staging = session_of(service).session.renderer.readback.staging_buffers
        if cpu_presenter:
            assert got == [0, 1, 2] and staging, "a CPU presenter's frames were read back without a staging buffer?"
        else:
            assert not staging, f"frames were read back for a window alone: {staging} staging buffers"
        guest.close()


@pytest.mark.slow
def test_closing_the_window_keeps_the_session(xdisplay, socket_path):
    import glfw
    with HostService(socket_path, region_size=16 << 20, isolation="thread", window=WindowOptions()) as service:
        guest = NoiseGuest(socket_path, 64, 48)
        want = guest.frame()
        fig = window_figures(service, 1)
        assert_same(wait_screen(xdisplay, fig, want), want, "before closing")
        record = session_of(service)
        (window,) = record.session.gpu_presenters
        glfw.set_window_should_close(window.window, True)  # what the window manager's close button does
        for _ in range(3):
            guest.frame()
        st = record.stats
        assert st.frames == 4 and st.status == DeviceStatus.READY and st.errors == 0, st
        fig = st.gpu_presenters["window"]
        assert (fig["frames_shown"], fig["frames_not_shown"], fig["window_open"], fig["closed"]) == \
            (1, 3, False, True), fig
        x, y = fig["position"]
        assert not screen(xdisplay, x, y, 64, 48).any(), "the closed window is still on the screen"
        guest.close()


def test_no_display_is_refused_at_once(socket_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(PvgpuError) as e:
        HostService(socket_path, window=WindowOptions())
    assert str(e.value) == ("--present window needs a display (DISPLAY is not set); use --present web or png:DIR, "
                            "or run under xvfb-run")
    HostService(socket_path).stop()  # without a window nothing needs a display


def test_a_display_that_does_not_answer_is_refused_at_once(socket_path):
    code = ("import sys\nfrom pvgpu.errors import PvgpuError\nfrom pvgpu.host.service import HostService\n"
            "from pvgpu.host.present.window import WindowOptions\n"
            "try:\n    HostService(sys.argv[1], window=WindowOptions())\n"
            "except PvgpuError as e:\n    print(e)\n")
    env = dict(os.environ, DISPLAY=":4321")  # no X server listens there (no socket in /tmp/.X11-unix)
    env.pop("WAYLAND_DISPLAY", None)
    assert not os.path.exists("/tmp/.X11-unix/X4321")
    out = subprocess.run([sys.executable, "-c", code, socket_path], env=env, capture_output=True, text=True,
                         timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("--present window needs a display (glfw could not open display :4321"), out.stdout
    assert out.stdout.rstrip().endswith("use --present web or png:DIR, or run under xvfb-run"), out.stdout
