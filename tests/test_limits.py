"""The host limits a hostile guest runs into (issue 11): the memory quota follows GPU memory
as long as anything keeps it alive (views, swap chains, bindings, renamed buffer backings),
the watchdog covers shader compilation, and frame slots are bounded per session.

Guests write raw records through the real local transport; the host renders on lavapipe.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time

import numpy as np
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402
from pvgpu.host.present.headless import FrameCallback  # noqa: E402
from pvgpu.host.service import HostService  # noqa: E402
from pvgpu.protocol import codec  # noqa: E402
from pvgpu.protocol.enums import (  # noqa: E402
    BindFlag, CpuAccessFlag, DeviceStatus, DsvFlag, DxgiFormat, ErrorCode, ShaderStage, SrvDimension, Usage,
)

WAIT = 30.0
OP = {name: layout.opcode for name, layout in codec.BY_NAME.items()}
RGBA8 = int(DxgiFormat.R8G8B8A8_UNORM)
MiB = 1 << 20


class Guest:
    """A connected guest writing raw records, with the few helpers these tests need."""

    _ids = itertools.count(0x5100_0000)

    def __init__(self, path: str):
        self.device = g.connect(path, timeout=WAIT)
        self.conn = self.device.connection

    def close(self) -> None:
        self.device.close()

    def new_id(self) -> int:
        return next(self._ids)

    def emit(self, name: str, elements=None, **fields) -> int:
        return self.conn.emit(name, elements, **fields)

    def sync(self) -> list:
        self.conn.kick()
        self.conn.wait_fence(self.conn.fence(), timeout=WAIT)
        return self.device.host_errors()

    def texture(self, size: int, bind=BindFlag.SHADER_RESOURCE) -> int:
        tex = self.new_id()
        self.emit("CREATE_TEXTURE2D", texture=tex, width=size, height=size, mip_levels=1, array_size=1, format=RGBA8,
                  sample_count=1, sample_quality=0, usage=Usage.DEFAULT, bind_flags=bind, cpu_access_flags=0,
                  misc_flags=0, initial_data_offset=0, initial_data_size=0)
        return tex

    def srv(self, tex: int) -> int:
        view = self.new_id()
        self.emit("CREATE_SHADER_RESOURCE_VIEW", view=view, resource=tex, format=0,
                  view_dimension=SrvDimension.TEXTURE2D, most_detailed_mip=0, mip_levels=1, first_array_slice=0,
                  array_size=1)
        return view

    def buffer(self, nbytes: int, usage=Usage.DEFAULT, cpu=0, bind=BindFlag.VERTEX_BUFFER) -> int:
        buf = self.new_id()
        self.emit("CREATE_BUFFER", buffer=buf, byte_width=nbytes, usage=usage, bind_flags=bind,
                  cpu_access_flags=cpu, misc_flags=0, structure_byte_stride=0, initial_data_offset=0,
                  initial_data_size=0)
        return buf

    def destroy(self, *ids: int) -> None:
        for object_id in ids:
            self.emit("DESTROY_OBJECT", object=object_id)

    def read_buffer(self, buf: int, nbytes: int) -> bytes:
        staging = self.buffer(nbytes, Usage.STAGING, CpuAccessFlag.READ, bind=0)
        self.emit("COPY_RESOURCE", dst=staging, src=buf)
        off = self.conn.reserve_heap(nbytes)
        self.emit("MAP_READ", resource=staging, subresource=0, dst_row_pitch=nbytes, dst_depth_pitch=nbytes,
                  dst_offset=off, dst_size=nbytes)
        errors = self.sync()
        assert errors == [], [e.describe() for e in errors]
        self.destroy(staging)
        return bytes(self.conn.region.heap[off:off + nbytes])

    def assert_serves(self, frames) -> None:
        """A fresh swap chain cleared and presented shows the color (the session goes on)."""
        chain, back, rtv = self.new_id(), self.new_id(), self.new_id()
        self.emit("CREATE_SWAP_CHAIN", swap_chain=chain, buffer=back, width=4, height=4, format=RGBA8, buffer_count=1)
        self.emit("CREATE_RENDER_TARGET_VIEW", view=rtv, resource=back, format=0, mip_slice=0, array_slice=0)
        self.emit("CLEAR_RENDER_TARGET_VIEW", view=rtv, color_r=0.0, color_g=1.0, color_b=0.0, color_a=1.0)
        before = len(frames)
        self.emit("PRESENT", swap_chain=chain, sync_interval=0, flags=0)
        self.destroy(rtv, chain)  # the chain takes its back buffer with it
        errors = self.sync()
        assert errors == [], [e.describe() for e in errors]
        deadline = time.monotonic() + WAIT
        while len(frames) <= before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(frames) > before and (frames[-1] == [0, 255, 0, 255]).all()
        assert self.conn.region.get("device_status") == DeviceStatus.READY


def codes(errors) -> list:
    return [(ErrorCode(e.code).name, e.opcode) for e in errors]


# --- the memory quota ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def thread_host():
    """A host whose sessions run in this process, so a test can give one a small quota."""
    folder = tempfile.mkdtemp(prefix="pvgpu-limits-")
    frames: list = []
    service = HostService(os.path.join(folder, "host.sock"), region_size=32 << 20, isolation="thread",
                          presenters=[FrameCallback(lambda sid, f: frames.append(f.pixels.copy()))]).start()
    service.frames = frames
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def small_quota(thread_host):
    """A guest whose session may hold QUOTA bytes of GPU memory."""
    guest = Guest(thread_host.socket_path)
    session = thread_host.sessions[guest.conn.region.get("session_id")].session
    session.objects.max_bytes = session.renderer.memory.limit = QUOTA
    guest.session, guest.frames = session, thread_host.frames
    yield guest
    guest.close()


QUOTA = 20 * MiB
TEX = 1024  # a 1024x1024 RGBA8 texture: 4 MiB, so five fit the quota


def test_views_keep_released_textures_charged(small_quota):
    """Create a texture and a view, release the texture, repeat: the views keep every texture
    alive, so the quota is reached (QUOTA, the session goes on) instead of host memory growing."""
    guest = small_quota
    views, refused = [], None
    for i in range(8):
        tex = guest.texture(TEX)
        views.append(guest.srv(tex))
        guest.destroy(tex)
        errors = guest.sync()
        if errors:
            refused = i
            assert codes(errors)[0] == ("QUOTA", OP["CREATE_TEXTURE2D"]), [e.describe() for e in errors]
            assert "views" in errors[0].detail and str(QUOTA) in errors[0].detail
            break
    assert refused == QUOTA // (TEX * TEX * 4)
    memory = guest.session.renderer.memory
    assert memory.total == refused * TEX * TEX * 4 and memory.total <= QUOTA
    guest.destroy(*views[:refused])  # the last view's texture was never made
    guest.sync()
    big = guest.texture(2 * TEX)  # 16 MiB: fits once the views let their textures go
    assert guest.sync() == []
    assert memory.total == 4 * TEX * TEX * 4
    guest.destroy(big)
    guest.sync()
    assert memory.total == 0
    guest.assert_serves(guest.frames)


def test_bindings_keep_released_textures_charged(small_quota):
    """D3D11's context holds what is bound: a released texture and view bound as a shader
    resource stay charged until they are unbound."""
    guest = small_quota
    tex = guest.texture(2 * TEX)  # 16 MiB
    view = guest.srv(tex)
    guest.emit("SET_SHADER_RESOURCES", [(view,)], stage=ShaderStage.PIXEL, start_slot=0)
    guest.destroy(view, tex)
    assert guest.sync() == []
    second = guest.texture(2 * TEX)
    errors = guest.sync()
    assert codes(errors) == [("QUOTA", OP["CREATE_TEXTURE2D"])], [e.describe() for e in errors]
    guest.emit("SET_SHADER_RESOURCES", [(0,)], stage=ShaderStage.PIXEL, start_slot=0)
    second = guest.texture(2 * TEX)
    assert guest.sync() == []
    guest.destroy(second)
    guest.sync()
    assert guest.session.renderer.memory.total == 0


def test_resize_buffers_is_charged(small_quota):
    """ResizeBuffers charges the new back buffer's size (the object table charged the size at
    creation only: a 16x16 swap chain resized to 16384x16384 took a gigabyte uncharged)."""
    guest = small_quota
    chain, back = guest.new_id(), guest.new_id()
    guest.emit("CREATE_SWAP_CHAIN", swap_chain=chain, buffer=back, width=16, height=16, format=RGBA8, buffer_count=1)
    guest.emit("RESIZE_BUFFERS", swap_chain=chain, buffer_count=0, width=2 * TEX, height=2 * TEX, format=0)
    assert guest.sync() == []
    memory = guest.session.renderer.memory
    assert memory.total == 4 * TEX * TEX * 4
    guest.texture(2 * TEX)
    errors = guest.sync()
    assert codes(errors) == [("QUOTA", OP["CREATE_TEXTURE2D"])], [e.describe() for e in errors]
    guest.destroy(chain)
    guest.sync()
    assert memory.total == 0


def test_discard_loop_keeps_renamed_backings_within_the_cap(small_quota):
    """Map(WRITE_DISCARD) of a buffer recorded work still reads renames its backing; the old
    ones in flight are charged and capped (memory.rename_cap), past which the update is written
    in place after a submit. D3D11's order holds either way: every copy sees its own data."""
    guest = small_quota
    memory = guest.session.renderer.memory
    memory.rename_cap = MiB
    size = 256 << 10
    dynamic = guest.buffer(size, Usage.DYNAMIC, CpuAccessFlag.WRITE)
    targets = [guest.buffer(size) for _ in range(4)]
    assert guest.sync() == []
    for i in range(40):
        off, n = guest.conn.upload(np.full(size // 4, i, np.uint32).tobytes())
        guest.emit("MAP_WRITE_DISCARD", resource=dynamic, subresource=0, src_row_pitch=0, src_offset=off, src_size=n)
        guest.emit("COPY_RESOURCE", dst=targets[i % 4], src=dynamic)
    assert guest.sync() == []
    for k, target in enumerate(targets):
        assert set(np.frombuffer(guest.read_buffer(target, size), np.uint32)) == {36 + k}
    assert 0 < memory.peak_in_flight <= MiB
    assert memory.peak <= QUOTA
    guest.destroy(dynamic, *targets)
    guest.sync()
    memory.rename_cap = 256 * MiB


# --- the watchdog covers compilation ---------------------------------------------------------------
def slow_pixel_shader(lines: int = 16000) -> str:
    """A valid WGSL pixel shader of ~850 KB (under the 1 MiB limit) of dependent math: naga and
    lavapipe take tens of seconds to compile it here (18 s for 10000 lines on this machine,
    growing faster than the line count): real slowness, no mock."""
    body = "\n".join(f"a = sin(a * {1.0 + i * 1e-4:.5f} + b); b = cos(b + a * {0.5 + i * 1e-4:.5f});"
                     for i in range(lines))
    return ("@fragment\nfn ps(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {\n"
            f"var a = p.x; var b = p.y;\n{body}\nreturn vec4<f32>(a, b, 0.0, 1.0);\n}}\n")


@pytest.mark.slow
def test_compilation_past_the_watchdog_is_device_lost_naming_it():
    from pvgpu.errors import DeviceLostError
    from pvgpu.guest.connection import GuestConnection
    from pvgpu.transport.local import LocalGuestChannel

    folder = tempfile.mkdtemp(prefix="pvgpu-limits-wd-")
    frames: list = []
    service = HostService(os.path.join(folder, "h.sock"), region_size=16 << 20, watchdog_s=2.0,
                          presenters=[FrameCallback(lambda sid, f: frames.append(f.pixels.copy()))]).start()
    channel = LocalGuestChannel(service.socket_path)
    try:
        device = g.Device(GuestConnection(channel, timeout=120))
        source = slow_pixel_shader()
        assert len(source.encode()) < 1 << 20
        device.create_pixel_shader(source)
        with pytest.raises(DeviceLostError, match="compilation ran longer than the 2 s watchdog"):
            device.connection.wait_fence(device.connection.fence(), timeout=120)
        record = service.sessions[channel.region.get("session_id")]
        assert record.stats.lost_reason.startswith("shader or pipeline compilation ran longer")
        fresh = Guest(service.socket_path)  # the service still serves
        try:
            fresh.assert_serves(frames)
        finally:
            fresh.close()
        again = Guest.__new__(Guest)  # and the guest gets its device back (a reset)
        again.device = g.Device(GuestConnection(channel))
        again.conn = again.device.connection
        again.assert_serves(frames)
        assert record.stats.worker_restarts == 1
    finally:
        channel.close()
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- frame slots ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_frame_slots_are_bounded_per_session():
    """A session's frame slots (worker -> supervisor) take at most MAX_FRAME_BYTES: three slots
    for 4K frames, one for 8K ones, and a back buffer bigger than that is not read back for
    presenters at all (counted in the session's figures) instead of a gigabyte-sized memfd."""
    from pvgpu.host.render.renderer import MAX_FRAME_BYTES

    folder = tempfile.mkdtemp(prefix="pvgpu-limits-frames-")
    frames: list = []
    service = HostService(os.path.join(folder, "h.sock"), region_size=16 << 20,
                          presenters=[FrameCallback(lambda sid, f: frames.append((f.pixels.shape,
                                                                                   f.pixels[0, 0].copy())))]).start()
    guest = Guest(service.socket_path)
    try:
        record = service.sessions[guest.conn.region.get("session_id")]

        def present(width: int, height: int, green: float) -> None:
            chain, back, rtv = guest.new_id(), guest.new_id(), guest.new_id()
            guest.emit("CREATE_SWAP_CHAIN", swap_chain=chain, buffer=back, width=width, height=height, format=RGBA8,
                       buffer_count=1)
            guest.emit("CREATE_RENDER_TARGET_VIEW", view=rtv, resource=back, format=0, mip_slice=0, array_slice=0)
            guest.emit("CLEAR_RENDER_TARGET_VIEW", view=rtv, color_r=1.0, color_g=green, color_b=0.0, color_a=1.0)
            guest.emit("PRESENT", swap_chain=chain, sync_interval=0, flags=0)
            guest.destroy(rtv, chain)
            errors = guest.sync()
            assert errors == [], [e.describe() for e in errors]

        def slot_bytes() -> int:
            return os.fstat(record.supervisor._frames_fd).st_size

        present(3840, 2160, 0.0)
        assert slot_bytes() == 3 * 3840 * 2160 * 4
        present(7680, 4320, 1.0)
        assert slot_bytes() == 7680 * 4320 * 4 <= MAX_FRAME_BYTES
        too_big = (8192, MAX_FRAME_BYTES // (8192 * 4) + 1)
        present(*too_big, 0.0)
        assert slot_bytes() == 7680 * 4320 * 4
        assert [(shape, tuple(px)) for shape, px in frames] == [
            ((2160, 3840, 4), (255, 0, 0, 255)), ((4320, 7680, 4), (255, 255, 0, 255))]
        deadline = time.monotonic() + WAIT
        while record.stats.frames_too_large != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.stats.frames_too_large == 1
        assert record.stats.frames == 3
    finally:
        guest.close()
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_released_memory_caches_may_hold_is_capped(small_quota):
    """Bind groups and captured runs may still reference a released resource's GPU memory;
    past CACHE_RETAIN_BYTES of such memory the renderer drops those caches."""
    from pvgpu.host.render.memory import CACHE_RETAIN_BYTES

    guest = small_quota
    renderer = guest.session.renderer
    drops = []
    renderer.memory.on_drop_caches.append(lambda: drops.append(renderer.memory.held))
    size = 4 * TEX * TEX  # 4 MiB each
    count = CACHE_RETAIN_BYTES // size + 3
    for _ in range(count):
        tex = guest.texture(TEX, bind=BindFlag.RENDER_TARGET)
        rtv = guest.new_id()
        guest.emit("CREATE_RENDER_TARGET_VIEW", view=rtv, resource=tex, format=0, mip_slice=0, array_slice=0)
        guest.emit("CLEAR_RENDER_TARGET_VIEW", view=rtv, color_r=1.0, color_g=0.0, color_b=0.0, color_a=1.0)
        assert guest.sync() == []  # the clear ran: recorded work used the texture
        guest.destroy(rtv, tex)
        assert guest.sync() == []
    assert len(drops) == 1
    assert renderer.memory.cached_dead == (count - CACHE_RETAIN_BYTES // size - 1) * size
    assert renderer.memory.total == 0


def test_a_refused_view_does_not_keep_its_texture_charged(small_quota):
    """A depth-stencil view refused after its checks began (READ_ONLY_STENCIL on a format
    without stencil) holds nothing: once the texture is released its bytes are free again."""
    guest = small_quota
    memory = guest.session.renderer.memory
    tex = guest.new_id()
    guest.emit("CREATE_TEXTURE2D", texture=tex, width=TEX, height=TEX, mip_levels=1, array_size=1,
               format=int(DxgiFormat.D32_FLOAT), sample_count=1, sample_quality=0, usage=Usage.DEFAULT,
               bind_flags=BindFlag.DEPTH_STENCIL, cpu_access_flags=0, misc_flags=0, initial_data_offset=0,
               initial_data_size=0)
    guest.emit("CREATE_DEPTH_STENCIL_VIEW", view=guest.new_id(), resource=tex, format=0, mip_slice=0,
               array_slice=0, flags=DsvFlag.READ_ONLY_STENCIL)
    assert codes(guest.sync()) == [("INVALID_CALL", OP["CREATE_DEPTH_STENCIL_VIEW"])]
    assert memory.total == TEX * TEX * 4
    guest.destroy(tex)
    guest.sync()
    assert memory.total == 0 and not memory.orphans


def test_destroying_many_held_textures_frees_each_once(small_quota):
    """Textures released while views hold them are freed one by one as their views go (each
    destroy checks its own resource, not every orphan)."""
    guest = small_quota
    memory = guest.session.renderer.memory
    views = []
    for _ in range(4):
        tex = guest.texture(256)
        views.append(guest.srv(tex))
        guest.destroy(tex)
    guest.sync()
    assert len(memory.orphans) == 4 and memory.total == 4 * 256 * 256 * 4
    for k, view in enumerate(views, 1):
        guest.destroy(view)
        guest.sync()
        assert len(memory.orphans) == 4 - k and memory.total == (4 - k) * 256 * 256 * 4


# --- quotas chosen for the host --------------------------------------------------------------------
def test_serve_quotas_reach_every_session_in_its_worker(tmp_path):
    """`pvgpu serve --gpu-memory 8M --max-objects 6`: a session (in its worker process) refuses
    what goes past them with QUOTA and goes on."""
    from pvgpu.cli import build_parser
    args = build_parser().parse_args(["serve", "--gpu-memory", "8M", "--max-objects", "6"])
    assert (args.gpu_memory, args.max_objects) == (8 * MiB, 6)
    service = HostService(str(tmp_path / "q.sock"), region_size=16 << 20, max_objects=args.max_objects,
                          max_gpu_bytes=args.gpu_memory).start()
    guest = Guest(service.socket_path)
    try:
        big = guest.texture(2048)  # 16 MiB
        assert codes(guest.sync()) == [("QUOTA", OP["CREATE_TEXTURE2D"])]
        small = [guest.texture(16) for _ in range(7)]
        assert codes(guest.sync()) == [("QUOTA", OP["CREATE_TEXTURE2D"])]  # the 7th of 6
        guest.destroy(*small[:6])
        assert guest.sync() == []
        assert big and guest.conn.region.get("device_status") == DeviceStatus.READY
    finally:
        guest.close()
        service.stop()


def test_quotas_below_one_are_refused(tmp_path):
    from pvgpu.errors import PvgpuError
    with pytest.raises(PvgpuError, match="max_gpu_bytes must be at least 1"):
        HostService(str(tmp_path / "q.sock"), max_gpu_bytes=0)
