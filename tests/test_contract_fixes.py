"""Issue 11's host fixes to the guest-driver contract, through the real path (a host service in
this process, guests over the local transport):

- a framing error (a record size that is not a multiple of 16, 0, or beyond what was
  published) is an error-log entry and puts the device at once in the device-lost state with a
  reason the guest reads; a guest waiting on a fence published after it gets DeviceLostError
  naming that reason (not a timeout); a reset then brings a fresh session;
- feature bits are enforced: a command (or a field value) whose feature the session did not
  accept is refused with UNSUPPORTED naming the bit, and the session goes on;
- a swap chain owns its back buffer: destroying the chain frees the buffer's id.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections import defaultdict

import numpy as np
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402
from pvgpu.errors import DeviceLostError  # noqa: E402
from pvgpu.guest.connection import GuestConnection  # noqa: E402
from pvgpu.host.present.headless import FrameCallback  # noqa: E402
from pvgpu.host.service import HostService  # noqa: E402
from pvgpu.protocol import codec, spec  # noqa: E402
from pvgpu.protocol.enums import DeviceStatus, DxgiFormat, ErrorCode, ObjectKind  # noqa: E402
from pvgpu.transport.control import read_errors  # noqa: E402
from pvgpu.transport.local import LocalGuestChannel  # noqa: E402

WAIT = 30.0  # bounds every wait (a DeviceLostError must come long before)
OP = {name: layout.opcode for name, layout in codec.BY_NAME.items()}
RGBA8 = int(DxgiFormat.R8G8B8A8_UNORM)


class Frames:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_session: dict[int, list[np.ndarray]] = defaultdict(list)

    def __call__(self, session_id: int, frame) -> None:
        with self.lock:
            self.by_session[session_id].append(frame.pixels.copy())

    def of(self, session_id: int) -> list[np.ndarray]:
        with self.lock:
            return list(self.by_session[session_id])


@pytest.fixture(scope="module")
def host():
    folder = tempfile.mkdtemp(prefix="pvgpu-contract-")
    frames = Frames()
    service = HostService(os.path.join(folder, "host.sock"), region_size=16 << 20,
                          presenters=[FrameCallback(frames)], isolation="thread").start()
    service.frames = frames
    try:
        yield service
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def device(host):
    d = g.connect(host.socket_path, timeout=WAIT)
    yield d
    d.close()


_seqs = itertools.count(0x5EC1_0001)


def record(name: str, seq: int, **fields) -> bytes:
    """A record with the given fields, every other field 0 (or the smallest enum value)."""
    layout = codec.BY_NAME[name]
    values = {f.name: (min(int(v) for v in f.enum) if f.enum else 0) for f in layout.fields}
    values.update(fields)
    return layout.encode(seq, tuple(values[f.name] for f in layout.fields), None)


def with_size(rec: bytes, size: int, physical: int) -> bytes:
    """`rec` with its header's size field set to `size`, `physical` bytes of it written."""
    out = bytearray(rec)
    out[4:8] = size.to_bytes(4, "little")
    return (bytes(out) + bytes(max(0, physical - len(out))))[:physical]


def session_of(host: HostService, device: g.Device):
    return host.sessions[device.connection.region.get("session_id")].session


def clear_and_present(device: g.Device, color) -> g.SwapChain:
    chain = device.create_swap_chain(g.SwapChainDesc(4, 4))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    device.immediate_context.clear_render_target_view(rtv, color)
    chain.present()
    chain.wait_idle()
    rtv.release()
    return chain


# --- 1. framing errors -------------------------------------------------------------------------------
#: (header size field, bytes written, expected code, words the detail must hold)
FRAMING_CASES = {
    "size_not_multiple_of_16": (40, 48, ErrorCode.BAD_FRAMING, "record size 40 is not a multiple of 16"),
    "size_0": (0, 32, ErrorCode.BAD_FRAMING, "record size 0 is not a multiple of 16"),
    "size_beyond_published": (4096, 32, ErrorCode.TRUNCATED_RECORD, "record claims 4096 bytes but only"),
}


@pytest.mark.parametrize("case", FRAMING_CASES)
def test_framing_error_loses_the_device_at_once_and_a_fence_waiter_hears_why(host, case):
    size, physical, code, words = FRAMING_CASES[case]
    channel = LocalGuestChannel(host.socket_path)
    try:
        conn = GuestConnection(channel, timeout=WAIT)
        dev = g.Device(conn)
        clear_and_present(dev, (1, 0, 0, 1))
        session_id = channel.region.get("session_id")
        assert len(host.frames.of(session_id)) == 1
        seq = next(_seqs)
        conn.writer.write(with_size(record("FLUSH", seq), size, physical))
        conn.emit("CLEAR_RENDER_TARGET_VIEW", view=0, color_r=0.0, color_g=0.0, color_b=0.0, color_a=1.0)
        fence = conn.fence()  # published in the same batch as the bad record
        with pytest.raises(DeviceLostError) as info:
            conn.wait_fence(fence, timeout=WAIT)
        message = str(info.value)
        assert f"waiting for fence {fence}" in message and "command stream framing lost" in message, message
        assert words in message, message
        assert conn.device_status == DeviceStatus.LOST
        assert conn.completed_fence < fence
        entries = [(e.code, e.opcode, e.sequence) for e in read_errors(channel.region)]
        assert entries == [(code, OP["FLUSH"], seq), (ErrorCode.DEVICE_LOST, OP["FLUSH"], seq)], entries
        lost_entry = read_errors(channel.region)[-1]
        assert lost_entry.detail.startswith("command stream framing lost: ") and words in lost_entry.detail
        assert conn.lost_reason() == lost_entry.detail
        # Lost stays lost: a later fence is not completed either, the guest hears it at once.
        with pytest.raises(DeviceLostError, match="framing lost"):
            conn.wait_fence(conn.fence(), timeout=WAIT)

        # A reset (a new guest program on the same device) brings a fresh, working session.
        fresh = g.Device(GuestConnection(channel, timeout=WAIT))
        assert fresh.connection.device_status == DeviceStatus.READY
        assert read_errors(channel.region) == []
        clear_and_present(fresh, (0, 0, 1, 1))
        assert fresh.host_errors() == []
        frames = host.frames.of(session_id)
        assert [tuple(f[0, 0]) for f in frames] == [(255, 0, 0, 255), (0, 0, 255, 255)]
    finally:
        channel.close()


# --- 2. feature bits enforced ------------------------------------------------------------------------
VS = "@vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {\n" \
     "  let p = array(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));\n" \
     "  return vec4<f32>(p[i], 0.0, 1.0);\n}"
PS = "@fragment fn ps() -> @location(0) vec4<f32> { return vec4<f32>(0.0, 1.0, 0.0, 1.0); }"
CS = "@compute @workgroup_size(1) fn cs() { }"


def connect_with(host: HostService, features: int) -> g.Device:
    channel = LocalGuestChannel(host.socket_path)
    try:
        return g.Device(GuestConnection(channel, timeout=WAIT, requested_features=features))
    except BaseException:
        channel.close()
        raise


def host_errors_after(dev: g.Device) -> list:
    conn = dev.connection
    conn.kick()
    conn.wait_fence(conn.fence(), timeout=WAIT)
    return dev.host_errors()


def draw_target(dev: g.Device):
    """A 4x4 swap chain with a full-screen green triangle's pipeline set (no feature needed
    but WGSL_SHADERS)."""
    chain = dev.create_swap_chain(g.SwapChainDesc(4, 4))
    ctx = dev.immediate_context
    ctx.om_set_render_targets([dev.create_render_target_view(chain.get_buffer(0))])
    ctx.vs_set_shader(dev.create_vertex_shader(VS))
    ctx.ps_set_shader(dev.create_pixel_shader(PS))
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_viewports([g.Viewport(0, 0, 4, 4)])
    return chain


def compute_ready(dev: g.Device) -> None:
    dev.immediate_context.cs_set_shader(dev.create_compute_shader(CS))


#: id -> (feature, what the refused session does, the refusal's exact detail, what the accepting
#: session does instead (None: the same)). Each refused action makes exactly one gated command.
FEATURE_CASES = {
    "wgsl_shader": (g.Feature.WGSL_SHADERS, lambda d: d.create_pixel_shader(PS), "language=WGSL", None),
    "texture2d": (g.Feature.TEXTURE2D, lambda d: d.create_texture2d(g.Texture2DDesc(4, 4)), "CREATE_TEXTURE2D", None),
    "texture1d": (g.Feature.TEXTURE1D, lambda d: d.create_texture1d(g.Texture1DDesc(4)), "CREATE_TEXTURE1D", None),
    "texture3d": (g.Feature.TEXTURE3D, lambda d: d.create_texture3d(g.Texture3DDesc(4, 4, 4)), "CREATE_TEXTURE3D",
                  None),
    "draw_instanced": (g.Feature.INSTANCING, lambda d: (draw_target(d), d.immediate_context.draw_instanced(3, 2)),
                       "DRAW_INSTANCED", None),
    "per_instance_layout": (
        g.Feature.INSTANCING,
        lambda d: d.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32_FLOAT),
                                         g.InputElementDesc("COLOR", 0, g.DxgiFormat.R32G32B32A32_FLOAT, 1, 0,
                                                            g.InputClassification.PER_INSTANCE_DATA, 1)]),
        "elements[1].input_slot_class=PER_INSTANCE_DATA", None),
    "anisotropic": (g.Feature.ANISOTROPIC_FILTERING,
                    lambda d: d.create_sampler_state(g.SamplerDesc(filter=g.Filter.ANISOTROPIC, max_anisotropy=4)),
                    "filter=ANISOTROPIC", None),
    "wireframe": (g.Feature.FILL_WIREFRAME,
                  lambda d: d.create_rasterizer_state(g.RasterizerDesc(fill_mode=g.FillMode.WIREFRAME)),
                  "fill_mode=WIREFRAME", None),
    "timestamp_query": (g.Feature.TIMESTAMP_QUERIES, lambda d: d.create_query(g.QueryType.TIMESTAMP),
                        "type=TIMESTAMP", None),
    "statistics_query": (g.Feature.PIPELINE_STATISTICS_QUERIES,
                         lambda d: d.create_query(g.QueryType.PIPELINE_STATISTICS), "type=PIPELINE_STATISTICS", None),
    "compute_shader": (g.Feature.COMPUTE_SHADERS, lambda d: d.create_compute_shader(CS), "CREATE_COMPUTE_SHADER",
                       None),
    "dispatch": (g.Feature.COMPUTE_SHADERS, lambda d: d.immediate_context.dispatch(1),
                 "DISPATCH", lambda d: (compute_ready(d), d.immediate_context.dispatch(1))),
    "uav_buffer": (g.Feature.COMPUTE_SHADERS,
                   lambda d: d.create_buffer(g.BufferDesc(64, g.BindFlag.UNORDERED_ACCESS)),
                   "bind_flags has UNORDERED_ACCESS", None),
    "structured_buffer": (g.Feature.COMPUTE_SHADERS,
                          lambda d: d.create_buffer(g.BufferDesc(64, g.BindFlag.SHADER_RESOURCE,
                                                                 misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED,
                                                                 structure_byte_stride=16)),
                          "misc_flags has BUFFER_STRUCTURED", None),
    "compute_constant_buffers": (  # a generated handler's gated variant
        g.Feature.COMPUTE_SHADERS,
        lambda d: d.immediate_context.cs_set_constant_buffers(
            0, [d.create_buffer(g.BufferDesc(16, g.BindFlag.CONSTANT_BUFFER))]),
        "stage=COMPUTE", None),
    "shared_texture": (g.Feature.SHARED_RESOURCES,
                       lambda d: d.create_texture2d(g.Texture2DDesc(4, 4, misc_flags=g.ResourceMiscFlag.SHARED)),
                       "misc_flags has SHARED", None),
    "predication": (g.Feature.PREDICATION, lambda d: d.immediate_context.set_predication(None), "SET_PREDICATION",
                    None),
}


@pytest.mark.parametrize("case", FEATURE_CASES)
def test_a_feature_not_accepted_is_refused_naming_the_bit_and_works_when_accepted(host, case):
    feature, refused_action, what, accepted_action = FEATURE_CASES[case]
    lacking = connect_with(host, g.connection.KNOWN_FEATURES & ~feature)
    try:
        accepted = lacking.connection.accepted_features
        assert accepted == host.offered & ~feature
        assert lacking.connection.region.get("accepted_features") == accepted
        refused_action(lacking)
        errors = host_errors_after(lacking)
        got = [(e.code, e.detail) for e in errors]
        assert got == [(ErrorCode.UNSUPPORTED,
                        f"{what} needs feature {feature.name}, which this session did not accept")], got
        # The session goes on.
        clear_and_present(lacking, (0, 0, 1, 1))
        assert lacking.host_errors() == []
        assert lacking.connection.device_status == DeviceStatus.READY
    finally:
        lacking.close()
    full = g.connect(host.socket_path, timeout=WAIT)
    try:
        assert full.connection.accepted_features & feature
        (accepted_action or refused_action)(full)
        assert [e.describe() for e in host_errors_after(full)] == []
    finally:
        full.close()


def _neutral(use) -> int:
    """A value of `use`'s field that needs no feature."""
    if use.mask:
        return 0
    field = use.field_spec
    choices = [int(v) for v in field.enum] if field.enum is not None else [0, 1]
    return next(v for v in choices if v not in use.values)


def gated_record(name: str, seq: int, use=None) -> bytes:
    """A record of command `name` that needs nothing but `use` (or the command's own feature)."""
    layout = codec.BY_NAME[name]
    values = {f.name: (min(int(v) for v in f.enum) if f.enum else 0) for f in layout.fields}
    element = {f.name: (min(int(v) for v in f.enum) if f.enum else 0) for f in layout.element.fields} \
        if layout.element is not None else None
    for other in spec.FEATURE_USES:
        if other.command == name and other is not use:
            (element if other.element else values)[other.field] = _neutral(other)
    if use is not None:
        value = use.mask or min(use.values)
        (element if use.element else values)[use.field] = value
    elements = None
    if element is not None:
        values[layout.count_field.name] = 1
        elements = [tuple(element[f.name] for f in layout.element.fields)]
    return layout.encode(seq, tuple(values[f.name] for f in layout.fields), elements)


@pytest.mark.parametrize("feature", sorted({c.feature for c in spec.COMMANDS if c.feature}
                                           | {u.feature for u in spec.FEATURE_USES}), ids=lambda f: f.name)
def test_every_gated_command_and_value_of_the_spec_is_refused_without_its_bit(host, feature):
    """Raw records: each command of the spec that needs `feature`, and each field value that
    does, is refused with UNSUPPORTED naming the bit in a session that did not accept it."""
    dev = connect_with(host, g.connection.KNOWN_FEATURES & ~feature)
    conn = dev.connection
    try:
        cases = [(c.name, None) for c in spec.COMMANDS if c.feature == feature]
        cases += [(u.command, u) for u in spec.FEATURE_USES if u.feature == feature]
        assert cases
        for name, use in cases:
            seq = next(_seqs)
            conn.writer.write(gated_record(name, seq, use))
            (entry,) = host_errors_after(dev)
            assert (entry.code, entry.opcode, entry.sequence) == (ErrorCode.UNSUPPORTED, OP[name], seq), entry
            if use is None:
                assert entry.detail == f"{name} needs feature {feature.name}, which this session did not accept"
            else:
                where = f"elements[0].{use.field}" if use.element else use.field
                assert entry.detail.startswith(where) and entry.detail.endswith(
                    f" needs feature {feature.name}, which this session did not accept"), entry.detail
        clear_and_present(dev, (0, 1, 0, 1))
        assert dev.host_errors() == [] and conn.device_status == DeviceStatus.READY
    finally:
        dev.close()


def test_feature_bits_that_gate_nothing_are_the_listed_ones():
    gating = {c.feature for c in spec.COMMANDS if c.feature} | {u.feature for u in spec.FEATURE_USES}
    assert set(g.Feature) - gating == {g.Feature.HEADLESS_PRESENT} == set(spec.UNGATED_FEATURES)


# --- 3. a swap chain owns its back buffer ------------------------------------------------------------
def sync_errors(dev: g.Device) -> list[tuple]:
    return [(e.code, e.opcode, e.sequence, e.detail) for e in host_errors_after(dev)]


def test_destroying_a_swap_chain_frees_its_back_buffer_id(host, device):
    objects = session_of(host, device).objects
    assert sync_errors(device) == []
    count, nbytes = len(objects.entries), objects.bytes
    chain = device.create_swap_chain(g.SwapChainDesc(16, 8))
    chain_id, buffer_id = chain.id, chain.get_buffer(0).id
    assert sync_errors(device) == []
    assert objects.entries[chain_id].kind == ObjectKind.SWAP_CHAIN
    assert objects.entries[buffer_id].kind == ObjectKind.TEXTURE2D
    assert len(objects.entries) == count + 2
    assert objects.bytes == nbytes + 16 * 8 * 4

    chain.release()
    assert sync_errors(device) == []
    assert chain_id not in objects.entries and buffer_id not in objects.entries
    assert (len(objects.entries), objects.bytes) == (count, nbytes)
    # Using the id as the old back buffer: it is no live object any more.
    conn = device.connection
    seq = conn.emit("CREATE_RENDER_TARGET_VIEW", view=0x7000_0001, resource=buffer_id, format=0, mip_slice=0,
                    array_slice=0)
    assert sync_errors(device) == [(ErrorCode.DEAD_ID, OP["CREATE_RENDER_TARGET_VIEW"], seq,
                                    f"resource: object {buffer_id} was already destroyed")]
    # The id is free for a new object (the guest's next id is that one).
    buf = device.create_buffer(g.BufferDesc(64, g.BindFlag.VERTEX_BUFFER))
    assert buf.id == buffer_id
    assert sync_errors(device) == []
    assert objects.entries[buffer_id].kind == ObjectKind.BUFFER


def test_the_back_buffer_alone_cannot_be_destroyed_and_releasing_it_keeps_it(host, device):
    chain = device.create_swap_chain(g.SwapChainDesc(4, 4))
    back = chain.get_buffer(0)
    back.release()  # GetBuffer's reference: the swap chain still holds the buffer
    conn = device.connection
    seq = conn.emit("DESTROY_OBJECT", object=back.id)  # a driver that tries anyway
    assert sync_errors(device) == [(ErrorCode.INVALID_CALL, OP["DESTROY_OBJECT"], seq,
                                    f"object: object {back.id} belongs to SWAP_CHAIN {chain.id} and is "
                                    f"destroyed with it")]
    rtv = device.create_render_target_view(back)
    device.immediate_context.clear_render_target_view(rtv, (0, 1, 0, 1))
    chain.present()
    chain.wait_idle()
    assert device.host_errors() == []
    assert tuple(host.frames.of(conn.region.get("session_id"))[-1][0, 0]) == (0, 255, 0, 255)


def test_resize_buffers_keeps_the_back_buffer_id_and_destroy_still_frees_it(host, device):
    objects = session_of(host, device).objects
    chain = device.create_swap_chain(g.SwapChainDesc(4, 4))
    buffer_id = chain.get_buffer(0).id
    chain.resize_buffers(0, 8, 6)
    rtv = device.create_render_target_view(chain.get_buffer(0))
    assert chain.get_buffer(0).id == buffer_id
    device.immediate_context.clear_render_target_view(rtv, (1, 0, 0, 1))
    chain.present()
    chain.wait_idle()
    assert device.host_errors() == []
    assert host.frames.of(device.connection.region.get("session_id"))[-1].shape == (6, 8, 4)
    assert objects.entries[buffer_id].kind == ObjectKind.TEXTURE2D
    # A view kept past the swap chain keeps rendering into the (now id-less) texture, as in D3D11.
    chain.release()
    device.immediate_context.clear_render_target_view(rtv, (0, 0, 1, 1))
    assert sync_errors(device) == []
    assert buffer_id not in objects.entries and chain.id not in objects.entries


def test_the_object_quota_counts_a_freed_back_buffer_as_free(host, device):
    objects = session_of(host, device).objects
    assert sync_errors(device) == []
    limit = objects.max_objects
    objects.max_objects = len(objects.entries) + 2  # room for one swap chain and its buffer
    try:
        chain = device.create_swap_chain(g.SwapChainDesc(4, 4))
        seq = device.connection.emit("CREATE_BUFFER", buffer=0x7000_0002, byte_width=16, usage=0, bind_flags=1,
                                     cpu_access_flags=0, misc_flags=0, structure_byte_stride=0,
                                     initial_data_offset=0, initial_data_size=0)
        assert [e[:3] for e in sync_errors(device)] == [(ErrorCode.QUOTA, OP["CREATE_BUFFER"], seq)]
        chain.release()
        again = device.create_swap_chain(g.SwapChainDesc(4, 4))  # fits again: both ids were freed
        assert sync_errors(device) == []
        again.release()
        assert sync_errors(device) == []
    finally:
        objects.max_objects = limit
