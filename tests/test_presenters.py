"""Presenters chosen with --present: parsing, a slow presenter dropping frames without holding
up the guest or another presenter, PNG files, and H.264 recordings decoded and compared with
the guest's frames."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.errors import PvgpuError
from pvgpu.host.present.base import QueuedPresenter
from pvgpu.host.present.build import build_presentation
from pvgpu.host.present.headless import FrameCallback, PngWriter
from pvgpu.host.present.record import Recorder
from pvgpu.host.present.spec import PresentSpec, parse_present, parse_presents
from pvgpu.host.service import HostService

from replay_scene import CB_PS, CELLS, VS, grid

W, H = 128, 96


# --- parsing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, spec", [
    ("png:out", PresentSpec("png", path="out")),
    ("window", PresentSpec("window")),
    ("window:novsync", PresentSpec("window", vsync=False)),
    ("web", PresentSpec("web")),
    ("web:9000", PresentSpec("web", port=9000)),
    ("web:0.0.0.0:9000", PresentSpec("web", host="0.0.0.0", port=9000)),
    ("web:[::1]:9000", PresentSpec("web", host="::1", port=9000)),
    ("record:a/b.mp4", PresentSpec("record", path="a/b.mp4")),
])
def test_present_specs_parse(text, spec):
    assert parse_present(text) == spec


@pytest.mark.parametrize("text, words", [
    ("vnc", "unknown presenter 'vnc'"),
    ("png", "needs a folder"),
    ("record:x.avi", ".mp4, .mkv or .mov"),
    ("web:host:port", "'port' is not a port number"),
    ("web:70000", "port 70000"),
    ("window:fast", "window takes nothing, vsync or novsync"),
])
def test_bad_present_specs_are_explained(text, words):
    with pytest.raises(PvgpuError, match=words.replace("(", r"\(").replace(".", r"\.")):
        parse_present(text)


def test_each_presenter_kind_once():
    with pytest.raises(PvgpuError, match="png is given 2 times"):
        parse_presents(["png:a", "png:b"])


def test_cli_reports_a_bad_present_without_a_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pvgpu.cli", "serve", "--socket", str(tmp_path / "s"),
                        "--present", "hologram"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "pvgpu: error: --present 'hologram': unknown presenter" in r.stderr
    assert "Traceback" not in r.stderr


# --- a guest that draws known frames --------------------------------------------------------------
def _color(cell: int, frame: int) -> tuple:
    k = cell * 37 + frame * 53
    return ((k % 251) / 255, ((k * 3) % 241) / 255, ((k * 7) % 239) / 255, 1.0)


class Guest:
    """A 4x4 grid of coloured cells over a WxH back buffer, new colours every frame."""

    def __init__(self, socket_path: str, size=(W, H)):
        self.device = d = g.connect(socket_path, timeout=30)
        self.ctx = d.get_immediate_context()
        self.chain = d.create_swap_chain(g.SwapChainDesc(*size))
        self.size = size
        cells = grid()
        vb = d.create_buffer(g.BufferDesc(cells.nbytes, g.BindFlag.VERTEX_BUFFER), cells)
        self.cb = d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER))
        vs, ps = d.create_vertex_shader(VS.encode()), d.create_pixel_shader(CB_PS.encode())
        layout = d.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT, 0, 0)], vs)
        c = self.ctx
        c.ia_set_input_layout(layout)
        c.ia_set_vertex_buffers(0, [vb], [8], [0])
        c.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        c.vs_set_shader(vs)
        c.ps_set_shader(ps)
        c.ps_set_constant_buffers(0, [self.cb])
        self._targets()

    def _targets(self) -> None:
        self.rtv = self.device.create_render_target_view(self.chain.get_buffer(0))
        self.ctx.om_set_render_targets([self.rtv], None)
        self.ctx.rs_set_viewports([g.Viewport(0, 0, *self.size)])

    def resize(self, size) -> None:
        self.ctx.om_set_render_targets([], None)
        self.rtv.release()
        self.chain.resize_buffers(0, *size)
        self.size = size
        self._targets()

    def frame(self, n: int) -> None:
        c = self.ctx
        c.clear_render_target_view(self.rtv, (0, 0, 0, 1))
        for i in range(CELLS):
            c.update_subresource(self.cb, 0, None, np.array(_color(i, n), np.float32).tobytes())
            c.draw(6, i * 6)
        self.chain.present()

    def close(self) -> None:
        self.chain.wait_idle()
        self.device.close()


class Frames:
    """A presenter keeping a copy of every frame, with the host's present time."""

    def __init__(self):
        self.frames: list[tuple[float, np.ndarray]] = []
        self.cb = FrameCallback(lambda sid, f: self.frames.append((f.presented_at, f.pixels.copy())))


def _serve(tmp_path, presenters, **kw) -> HostService:
    return HostService(str(tmp_path / "host.sock"), region_size=16 << 20, presenters=presenters, **kw)


def _wait_ended(service: HostService) -> None:
    (record,) = service.sessions.values()
    assert record.ended.wait(60)


# --- a slow presenter -----------------------------------------------------------------------------
class Slow(QueuedPresenter):
    name = "slow"

    def __init__(self, delay: float):
        self.delay = delay
        self.shown_indices: list[int] = []
        super().__init__(depth=2)

    def show(self, frame) -> None:
        time.sleep(self.delay)
        self.shown_indices.append(frame.index)


def test_a_slow_presenter_drops_and_counts_without_holding_up_the_guest_or_others(tmp_path):
    slow, every = Slow(0.25), Frames()
    n = 40
    with _serve(tmp_path, [slow, every.cb]) as service:
        guest = Guest(service.socket_path)
        started = time.monotonic()
        for i in range(n):
            guest.frame(i)
        guest.close()
        guest_s = time.monotonic() - started
        _wait_ended(service)
        (sid,) = service.sessions
    slow.close()
    c = slow.counters(sid)
    assert len(every.frames) == n  # the other presenter saw every frame
    assert c.received == n and c.shown + c.dropped == n
    assert c.dropped > 0 and c.shown == len(slow.shown_indices)
    # Had the guest waited for the slow presenter it would have taken n * 0.25 s.
    assert guest_s < n * slow.delay / 2, f"the guest took {guest_s:.1f} s for {n} frames"
    assert slow.shown_indices == sorted(slow.shown_indices)  # the newest frames, in order


def test_png_frames_of_two_sessions_never_collide(tmp_path):
    png = PngWriter(str(tmp_path / "png"), per_session=True)
    every = Frames()
    with _serve(tmp_path, [png, every.cb]) as service:
        for _ in range(2):
            guest = Guest(service.socket_path)
            for i in range(3):
                guest.frame(i)
            guest.close()
    png.close()
    ids = sorted(service.sessions)
    for k, sid in enumerate(ids):
        files = sorted(os.listdir(tmp_path / "png" / f"session-{sid}"))
        assert files == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    from PIL import Image
    last = np.asarray(Image.open(tmp_path / "png" / f"session-{ids[1]}" / "frame_0002.png"))
    assert np.array_equal(last, every.frames[-1][1])


# --- recording --------------------------------------------------------------------------------------
def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _subsampled(rgba: np.ndarray) -> np.ndarray:
    """The frame as 4:2:0 video carries it before any compression (H.264 in MP4 as browsers
    and players take it): the codec's own loss is measured against this."""
    import av
    h, w = rgba.shape[:2]
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba").reformat(
        w, h, "yuv420p").to_ndarray(format="rgb24")


def _decode(path: str) -> list[tuple[float, np.ndarray]]:
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]


def test_recording_decodes_to_the_guests_frames_at_its_presentation_times(tmp_path):
    path = str(tmp_path / "guest.mp4")
    rec, every = Recorder(path), Frames()
    n = 24
    with _serve(tmp_path, [rec, every.cb]) as service:
        guest = Guest(service.socket_path)
        for i in range(n):
            guest.frame(i)
            time.sleep(0.01 * (i % 3))  # an uneven presentation rate
        guest.close()
        _wait_ended(service)
    rec.close()
    assert rec.finished == [path]
    decoded = _decode(path)
    assert len(decoded) == n
    codec = [_psnr(frame, _subsampled(ref)) for (_, frame), (_, ref) in zip(decoded, every.frames)]
    assert min(codec) > 40, f"the codec's PSNR per frame {min(codec):.1f} dB at worst"
    whole = [_psnr(frame, ref[:, :, :3]) for (_, frame), (_, ref) in zip(decoded, every.frames)]
    assert min(whole) > 30, f"PSNR against the guest's RGB frames {min(whole):.1f} dB at worst"
    # Each frame is where the guest put it in time (to the 90 kHz clock's tick).
    t0 = every.frames[0][0]
    for (t, _), (presented_at, _) in zip(decoded, every.frames):
        assert t == pytest.approx(presented_at - t0, abs=2e-5)
    # and not a copy of a neighbour: each decoded frame is closest to its own guest frame
    for k in range(1, n - 1):
        own = _psnr(decoded[k][1], every.frames[k][1][:, :, :3])
        assert own > _psnr(decoded[k][1], every.frames[k + 1][1][:, :, :3])


def test_recording_follows_a_resize_by_scaling_to_its_first_size(tmp_path):
    path = str(tmp_path / "resized.mkv")
    rec, every = Recorder(path), Frames()
    with _serve(tmp_path, [rec, every.cb]) as service:
        guest = Guest(service.socket_path)
        guest.frame(0)
        guest.resize((W * 2, H * 2))
        guest.frame(1)
        guest.close()
        _wait_ended(service)
    rec.close()
    decoded = _decode(path)
    assert [f.shape for _, f in decoded] == [(H, W, 3), (H, W, 3)]
    assert every.frames[1][1].shape == (H * 2, W * 2, 4)
    from PIL import Image
    scaled = np.asarray(Image.fromarray(every.frames[1][1][:, :, :3]).resize((W, H), Image.BILINEAR))
    assert _psnr(decoded[1][1], scaled) > 28


def test_recording_to_a_missing_folder_is_refused_up_front(tmp_path):
    with pytest.raises(PvgpuError, match="does not exist"):
        Recorder(str(tmp_path / "nowhere" / "x.mp4"))


@pytest.mark.slow
def test_demo_presents_to_png_and_a_recording_at_once(tmp_path):
    out, video = tmp_path / "frames", tmp_path / "demo.mp4"
    r = subprocess.run([sys.executable, "-m", "pvgpu.cli", "demo", "--frames", "12", "--size", "160x120",
                        "--present", f"png:{out}", "--present", f"record:{video}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"frames to {out}" in r.stderr and f"recording to {video}" in r.stderr
    assert len(os.listdir(out)) == 12
    decoded = _decode(str(video))
    assert len(decoded) == 12
    from PIL import Image
    png = np.asarray(Image.open(out / "frame_0011.png"))
    assert _psnr(decoded[-1][1], _subsampled(png)) > 35  # the cube's checkerboard: chroma is 4:2:0's loss
    assert _psnr(decoded[-1][1], png[:, :, :3]) > 20


def test_build_presentation_makes_what_the_specs_ask_for(tmp_path):
    p = build_presentation(parse_presents([f"png:{tmp_path}/p", f"record:{tmp_path}/r.mp4"]), per_session=True)
    try:
        assert [type(x).__name__ for x in p.presenters] == ["PngWriter", "Recorder"]
        assert p.window is None and p.service_options() == {"presenters": p.presenters, "window": None}
        assert p.presenters[1].path_for(7) == f"{tmp_path}/r-session-7.mp4"
    finally:
        p.close()


def test_a_presenter_keeps_the_figures_of_its_last_ended_sessions_only():
    from pvgpu.host.present.base import ENDED_KEPT, SessionInfo
    from pvgpu.host.render.renderer import Frame

    slow = Slow(0.0)
    pixels = np.zeros((4, 4, 4), np.uint8)
    for sid in range(1, ENDED_KEPT + 11):
        slow.session_started(SessionInfo(sid, f"s{sid}"))
        slow.present(sid, Frame(pixels, 0, None, time.monotonic()))
        slow.drain()
        slow.session_ended(sid)
    slow.close()
    assert sorted(slow._counters) == list(range(11, ENDED_KEPT + 11))
    assert slow.counters(ENDED_KEPT + 10).shown == 1 and not slow.sessions
