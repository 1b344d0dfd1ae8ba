"""The `window` presenter: a desktop window per session, drawn by the session's own GPU device.

It lives next to the session's renderer (in the worker process, or the service process with
isolation="thread") and gets the back buffer itself (`present_texture`), so a frame reaches
the window without a read-back: one small render pass samples the back buffer into the
window surface's texture (whose format usually differs: bgra8 vs rgba8, sRGB or not), then the
surface is presented. The window opens at the first frame, at the frame's size, and follows
the back buffer's size (ResizeBuffers, a mode change). A window the user closes stays closed;
the session goes on and its later frames are counted as not shown.

glfw is not thread-safe; with isolation="thread" several sessions call it from their own
threads, so every glfw call here holds one lock (on X11 that is enough)."""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np

from ...errors import PvgpuError

log = logging.getLogger("pvgpu.present")

#: how many recent frames' hand-off times are kept (figures, the latency benchmark)
HISTORY = 4096

_GLFW_LOCK = threading.RLock()
_glfw_display: str | None = None  # the display glfw was initialised with (None: not initialised)
_open_windows = 0

BLIT_SHADER = """
@group(0) @binding(0) var src: texture_2d<f32>;

struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };

@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var o: VOut;
    o.pos = vec4<f32>(uv * vec2<f32>(2.0, -2.0) + vec2<f32>(-1.0, 1.0), 0.0, 1.0);
    o.uv = uv;
    return o;
}

// Nearest texel, read with textureLoad: at 1:1 every window pixel is exactly its texel.
@fragment
fn fs(v: VOut) -> @location(0) vec4<f32> {
    let dims = vec2<i32>(textureDimensions(src));
    let p = clamp(vec2<i32>(floor(v.uv * vec2<f32>(dims))), vec2<i32>(0), dims - vec2<i32>(1));
    return vec4<f32>(textureLoad(src, p, 0).rgb, 1.0);
}
"""


@dataclass
class WindowOptions:
    vsync: bool = True


def _no_display(why: str) -> PvgpuError:
    return PvgpuError(f"--present window needs a display ({why}); use --present web or png:DIR, "
                      f"or run under xvfb-run")


def _init_glfw():
    """Initialise glfw once per process (again when the display changed while no window was
    open); returns the module. Raises PvgpuError when there is no display."""
    global _glfw_display
    where = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if not where:
        raise _no_display("DISPLAY is not set")
    with _GLFW_LOCK:
        import glfw
        if _glfw_display == where or (_glfw_display is not None and _open_windows):
            return glfw
        if _glfw_display is not None:
            glfw.terminate()
            _glfw_display = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ok = glfw.init()
        if not ok:
            detail = "; ".join(str(w.message) for w in caught) or "glfw.init() failed"
            raise _no_display(f"glfw could not open display {where}: {detail}")
        _glfw_display = where
        return glfw


def release_display() -> bool:
    """Let go of the display (glfw.terminate) when no window is open; True if it was let go.
    Call it before the X server goes away: Xlib ends a process whose server vanished."""
    global _glfw_display
    with _GLFW_LOCK:
        if _glfw_display is None:
            return True
        if _open_windows:
            return False
        import glfw
        glfw.terminate()
        _glfw_display = None
        return True


def require_display() -> None:
    """Raise PvgpuError now (in the service process) when no window can be opened."""
    _init_glfw()


def _surface_format(back_buffer_format: str, formats: list[str]) -> str:
    """The surface format that shows the back buffer's bytes unchanged: sRGB for an sRGB back
    buffer (decoded on load, encoded on store), plain unorm otherwise."""
    srgb = back_buffer_format.endswith("-srgb")
    for f in ("bgra8unorm-srgb", "rgba8unorm-srgb") if srgb else ("bgra8unorm", "rgba8unorm"):
        if f in formats:
            return f
    return formats[0]


def _present_mode(vsync: bool, modes: list[str]) -> str:
    """The mode wgpu-py picks for this `vsync` (its own preference order)."""
    pref = ["fifo", "mailbox"] if vsync else ["immediate", "mailbox", "fifo"]
    return next((m for m in pref if m in modes), modes[0] if modes else "fifo")


class WindowPresenter:
    """One session's window. Created where the session runs, with the session's device."""

    name = "window"

    def __init__(self, device, options: WindowOptions | None = None, title: str = "pvgpu"):
        self.device = device
        self.options = options or WindowOptions()
        self.title = title
        self.window = None
        self.context = None
        self.closed = False  # the user closed the window (or it could not be opened)
        self.present_mode = ""
        self.surface_format = ""
        self.size = (0, 0)  # the back buffer size the window shows
        self.position = (0, 0)
        self.frames_shown = 0
        self.frames_not_shown = 0
        self.resizes = 0
        self.cpu_s = 0.0  # this thread's CPU time in present_texture, after the first frame
        self.cpu_frames = 0
        self.open_ms = 0.0
        self.open_cpu_s = 0.0
        #: (frame index, host PRESENT time, hand-off time), time.monotonic, the latest last
        self.handoffs: deque[tuple[int, float, float]] = deque(maxlen=HISTORY)
        self._fb_size = (0, 0)  # the surface's size: the window's, as last read
        self._size_changed = False
        self._formats: list[str] = []  # what the surface offers
        self._pipelines: dict[str, object] = {}
        self._bind = None  # (wgpu texture, bind group) of the last back buffer
        self._failure_logged = False

    # --- the session calls ----------------------------------------------------------------------
    def present_texture(self, session_id: int, texture, frame) -> None:
        opening = self.window is None and not self.closed
        cpu = time.thread_time()
        try:
            if self._show(texture):
                self.frames_shown += 1
                handed = time.monotonic()
                if opening:  # opening the window and building the blit: once, kept apart
                    self.open_ms = (handed - frame.presented_at) * 1e3
                else:
                    self.handoffs.append((frame.index, frame.presented_at, handed))
            else:
                self.frames_not_shown += 1
        except Exception as e:  # a window that fails costs its frames, never the session
            self.frames_not_shown += 1
            if not self._failure_logged:
                self._failure_logged = True
                log.warning("session %d: the window could not show a frame: %s", session_id, e)
        finally:
            spent = time.thread_time() - cpu
            if opening:
                self.open_cpu_s += spent
            else:
                self.cpu_s += spent
                self.cpu_frames += 1

    def figures(self) -> dict:
        """Counts, and the hand-off (host PRESENT to the surface presented) of the last
        HISTORY frames after the first (which opened the window; `open_ms`)."""
        lat = np.array([(h - p) * 1e3 for _, p, h in self.handoffs if p]) if self.handoffs else np.zeros(0)
        return {
            "frames_shown": self.frames_shown,
            "frames_not_shown": self.frames_not_shown,
            "window_open": self.window is not None,
            "closed": self.closed,
            "size": list(self.size),
            "position": list(self.position),
            "resizes": self.resizes,
            "present_mode": self.present_mode,
            "surface_format": self.surface_format,
            "open_ms": self.open_ms,
            "open_cpu_ms": self.open_cpu_s * 1e3,
            "last_ms": float(lat[-1]) if lat.size else 0.0,
            "median_ms": float(np.median(lat)) if lat.size else 0.0,
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
            "cpu_ms_per_frame": self.cpu_s * 1e3 / max(1, self.cpu_frames),
        }

    def close(self) -> None:
        if self.context is not None:
            try:
                self.context.unconfigure()
            except Exception:
                pass
            self.context = None
        if self.window is not None:
            global _open_windows
            with _GLFW_LOCK:
                import glfw
                glfw.destroy_window(self.window)
                glfw.poll_events()
                _open_windows -= 1
            self.window = None
        self._bind = None

    # --- drawing ----------------------------------------------------------------------------------
    def _show(self, texture) -> bool:
        if self.closed:
            return False
        size = (int(texture.width), int(texture.height))
        if self.window is None:
            self._open(size, texture.wgpu_format)
        elif size != self.size:
            self._resize(size)
        if _surface_format(texture.wgpu_format, self._formats) != self.surface_format:
            self.surface_format = _surface_format(texture.wgpu_format, self._formats)
            self._configure()
        if not self._pump():
            return False
        import wgpu
        try:
            target = self.context.get_current_texture()
        except wgpu.DrawCancelled:
            return False
        view = target.create_view()
        pipeline = self._pipeline(target.format)
        if self._bind is None or self._bind[0] is not texture.texture:
            group = self.device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
                {"binding": 0, "resource": texture.texture.create_view()}])
            self._bind = (texture.texture, group)
        enc = self.device.create_command_encoder()
        rp = enc.begin_render_pass(color_attachments=[{
            "view": view, "load_op": "clear", "store_op": "store", "clear_value": (0, 0, 0, 1)}])
        rp.set_pipeline(pipeline)
        rp.set_bind_group(0, self._bind[1])
        rp.draw(3)
        rp.end()
        self.device.queue.submit([enc.finish()])
        self.context.present()
        return True

    def _title(self) -> str:
        return f"pvgpu \u2014 {self.title} ({self.size[0]}x{self.size[1]})"

    def _open(self, size: tuple[int, int], back_buffer_format: str) -> None:
        import wgpu
        from rendercanvas.glfw import get_glfw_present_info
        try:
            glfw = _init_glfw()
        except PvgpuError:
            self.closed = True
            raise
        self.size = size
        with _GLFW_LOCK:
            glfw.default_window_hints()
            glfw.window_hint(glfw.CLIENT_API, glfw.NO_API)
            glfw.window_hint(glfw.RESIZABLE, True)
            window = glfw.create_window(size[0], size[1], self._title(), None, None)
            if not window:
                self.closed = True
                raise PvgpuError("glfw could not create a window")
            self.window = window
            global _open_windows
            _open_windows += 1
            glfw.set_framebuffer_size_callback(window, self._on_framebuffer_size)
            glfw.set_window_pos_callback(window, self._on_pos)
            info = dict(get_glfw_present_info(window), vsync=self.options.vsync)
            self._fb_size = tuple(glfw.get_framebuffer_size(window))
            self.position = tuple(glfw.get_window_pos(window))
        self.context = wgpu.gpu.get_canvas_context(info)
        caps = self.context._get_capabilities(self.device.adapter)
        self.present_mode = _present_mode(self.options.vsync, caps["present_modes"])
        if not self.options.vsync and self.present_mode == "fifo":
            log.info("window: the surface offers neither immediate nor mailbox presentation; vsync stays on (fifo)")
        self._formats = list(caps["formats"])
        self.surface_format = _surface_format(back_buffer_format, self._formats)
        self._configure()

    def _configure(self) -> None:
        w, h = self._fb_size if min(self._fb_size) > 0 else self.size
        self.context.set_physical_size(w, h)
        self.context.configure(device=self.device, format=self.surface_format, alpha_mode="opaque")

    def _resize(self, size: tuple[int, int]) -> None:
        import glfw
        self.size = size
        self.resizes += 1
        with _GLFW_LOCK:
            glfw.set_window_size(self.window, size[0], size[1])
            glfw.set_window_title(self.window, self._title())
        self._size_changed = True

    def _pump(self) -> bool:
        """Handle window events; False once the user has closed the window.

        The surface takes the window's size as the X server has it now, read after every
        resize (ours or the user's): size events may describe an older request."""
        import glfw
        with _GLFW_LOCK:
            glfw.poll_events()
            if glfw.window_should_close(self.window):
                log.info("window of %s closed; the session goes on without it", self.title)
                self.closed = True
                self.close()
                return False
            if self._size_changed:
                self._size_changed = False
                fb = tuple(glfw.get_framebuffer_size(self.window))
                if fb != self._fb_size and min(fb) > 0:
                    self.context.set_physical_size(*fb)
                self._fb_size = fb
        return min(self._fb_size) > 0  # a minimised window shows nothing

    def _on_framebuffer_size(self, _window, width: int, height: int) -> None:
        self._size_changed = True

    def _on_pos(self, _window, x: int, y: int) -> None:
        self.position = (x, y)

    def _pipeline(self, fmt: str):
        pipeline = self._pipelines.get(fmt)
        if pipeline is None:
            module = self.device.create_shader_module(code=BLIT_SHADER, label="pvgpu-window-blit")
            pipeline = self.device.create_render_pipeline(
                layout="auto", label="pvgpu-window-blit",
                vertex={"module": module, "entry_point": "vs"},
                primitive={"topology": "triangle-list"},
                fragment={"module": module, "entry_point": "fs", "targets": [{"format": fmt}]})
            self._pipelines[fmt] = pipeline
        return pipeline
