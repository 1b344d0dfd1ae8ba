"""UAV counters: append/consume and counter structured buffer views (BufferViewFlag APPEND /
COUNTER), CSSetUnorderedAccessViews' initial counts (0xFFFFFFFF keeps the value), the DXBC
counter instructions imm_atomic_alloc / imm_atomic_consume, and CopyStructureCount, through the
guest API and the host. The producer and consumer are vkd3d's fxc-compiled blobs
(../shared/dxbc/vkd3d-d3d12/cs_producer_code__0 and cs_consumer_code__0, from the test
`test_uav_counters` of vkd3d's tests/d3d12.c)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.guest import dispatch, read_buffer
from pvgpu import guest as g
from pvgpu.errors import HostReportedError
from pvgpu.protocol.enums import ErrorCode
from pvgpu.shaders import translate
from pvgpu.shaders.assembler import assemble
from pvgpu.shaders.errors import ShaderInvalid

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "dxbc" / "vkd3d-d3d12"
STRUCTURED = g.ResourceMiscFlag.BUFFER_STRUCTURED
KEEP = 0xFFFFFFFF
N = 64  # elements of the append buffers

#: the counter of a COUNTER view in UAV slot 1 (binding 177), with both counter instructions:
#: u1[alloc] = thread id; after the group's barrier, the odd threads decrement the count again
COUNTER_ASM = """
cs_5_0
dcl_globalFlags refactoringAllowed
dcl_uav_structured_opc u1, 4
dcl_input vThreadID.x
dcl_temps 2
dcl_thread_group 8, 1, 1
imm_atomic_alloc r0.x, u1
store_structured u1.x, r0.x, l(0), vThreadID.x
sync_uglobal_t
and r1.x, vThreadID.x, l(1)
if_nz r1.x
  imm_atomic_consume r0.y, u1
endif
ret
"""


def corpus(name: str) -> bytes:
    path = CORPUS / f"{name}.dxbc"
    if not path.exists():
        pytest.skip(f"the vkd3d DXBC corpus is absent ({path}): these tests need ../shared/dxbc")
    return path.read_bytes()


def bad(device: g.Device, code: ErrorCode, *, substring: str = "") -> None:
    with pytest.raises(HostReportedError) as info:
        device.connection.finish()
    entries = [line for line in str(info.value).splitlines()[1:]]
    assert len(entries) == 1 and code.name in entries[0] and substring in entries[0], entries


def structured(device: g.Device, n: int = N, data: bytes | None = None) -> g.Buffer:
    return device.create_buffer(g.BufferDesc(4 * n, g.BindFlag.UNORDERED_ACCESS | g.BindFlag.SHADER_RESOURCE,
                                             misc_flags=STRUCTURED, structure_byte_stride=4), data)


def counts_buffer(device: g.Device, n: int = 4) -> g.Buffer:
    return device.create_buffer(g.BufferDesc(4 * n, g.BindFlag.UNORDERED_ACCESS))


def words(device: g.Device, buffer: g.Buffer) -> np.ndarray:
    return read_buffer(device, buffer).view(np.uint32)


def structure_count(device: g.Device, view) -> int:
    dst = counts_buffer(device, 1)
    device.get_immediate_context().copy_structure_count(dst, 0, view)
    return int(words(device, dst)[0])


def run(device: g.Device, cs, groups: int, uavs: list, counts: list) -> None:
    ctx = device.get_immediate_context()
    ctx.cs_set_shader(cs)
    ctx.cs_set_unordered_access_views(0, uavs, counts)
    ctx.dispatch(groups)
    ctx.cs_set_unordered_access_views(0, [None] * len(uavs))


def test_append_buffer_filled_by_producer_then_consumed(device):
    producer = device.create_compute_shader(corpus("cs_producer_code__0"))
    consumer = device.create_compute_shader(corpus("cs_consumer_code__0"))
    buf = structured(device)
    append = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    run(device, producer, 4, [append], [0])  # 16 threads append their ids
    assert structure_count(device, append) == 16
    filled = words(device, buf)
    assert sorted(filled[:16]) == list(range(16)) and not filled[16:].any()

    out = structured(device)
    plain = device.create_unordered_access_view(out)
    run(device, consumer, 2, [append, plain], [KEEP, KEEP])  # 8 threads consume elements 15..8
    assert structure_count(device, append) == 8
    copied = words(device, out)
    assert (copied[8:16] == filled[8:16]).all() and not copied[:8].any() and not copied[16:].any()


def test_initial_counts_set_and_keep(device):
    producer = device.create_compute_shader(corpus("cs_producer_code__0"))
    buf = structured(device)
    append = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    run(device, producer, 1, [append], [5])  # 4 threads at 5..8
    assert structure_count(device, append) == 9
    run(device, producer, 1, [append], [KEEP])  # 9..12
    assert structure_count(device, append) == 13
    ctx = device.get_immediate_context()
    ctx.cs_set_unordered_access_views(0, [append])  # the guest API's default: keep
    assert structure_count(device, append) == 13
    data = words(device, buf)
    assert sorted(data[5:13]) == [0, 0, 1, 1, 2, 2, 3, 3] and not data[:5].any() and not data[13:].any()


def test_initial_counts_ordered_with_recorded_work(device):
    """One batch, no flush between: each count applies after the dispatches recorded before it."""
    producer = device.create_compute_shader(corpus("cs_producer_code__0"))
    buf = structured(device, 256)
    append = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    counts = counts_buffer(device, 4)
    ctx = device.get_immediate_context()
    ctx.cs_set_shader(producer)
    ctx.cs_set_unordered_access_views(0, [append], [10])
    ctx.dispatch(1)
    ctx.copy_structure_count(counts, 0, append)  # 14
    ctx.cs_set_unordered_access_views(0, [append], [100])
    ctx.dispatch(2)
    ctx.cs_set_unordered_access_views(0, [append], [200])  # while the dispatch above is still recorded
    ctx.dispatch(1)
    ctx.copy_structure_count(counts, 4, append)  # 204
    ctx.cs_set_unordered_access_views(0, [append], [KEEP])
    ctx.dispatch(1)
    ctx.copy_structure_count(counts, 12, append)  # 208
    ctx.cs_set_unordered_access_views(0, [None])
    assert list(words(device, counts)) == [14, 204, 0, 208]
    data = words(device, buf)
    assert sorted(data[10:14]) == [0, 1, 2, 3] and sorted(data[100:108]) == list(range(8))
    assert sorted(data[200:208]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert not data[14:100].any() and not data[108:200].any() and not data[208:].any()


def test_many_initial_counts_in_one_batch(device):
    """More new counts while recorded work uses the counter than the host renames before a
    submit (compute.MAX_COUNTER_RENAMES_PER_SUBMIT): each still lands between its dispatches."""
    producer = device.create_compute_shader(corpus("cs_producer_code__0"))
    buf = structured(device, 512)
    append = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    counts = counts_buffer(device, 300)
    ctx = device.get_immediate_context()
    ctx.cs_set_shader(producer)
    for i in range(300):
        ctx.cs_set_unordered_access_views(0, [append], [i])
        ctx.dispatch(1)
        ctx.copy_structure_count(counts, 4 * i, append)
    ctx.cs_set_unordered_access_views(0, [None])
    assert list(words(device, counts)) == [i + 4 for i in range(300)]


def test_consume_below_zero_wraps_and_drops_the_accesses(device):
    """The counter is unbounded modulo 2^32; the out-of-range reads give 0, the writes are dropped."""
    consumer = device.create_compute_shader(corpus("cs_consumer_code__0"))
    src = structured(device, N, np.arange(1, N + 1, dtype=np.uint32).tobytes())
    consume = device.create_unordered_access_view(src, flags=g.BufferViewFlag.APPEND)
    out = structured(device)
    run(device, consumer, 1, [consume, device.create_unordered_access_view(out)], [2, KEEP])
    assert structure_count(device, consume) == 0xFFFFFFFE
    result = words(device, out)
    assert list(result[:2]) == [1, 2] and not result[2:].any()


def test_counter_view_in_slot_1_assembled(device):
    cs = device.create_compute_shader(assemble(COUNTER_ASM))
    buf = structured(device)
    view = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.COUNTER)
    run(device, cs, 1, [None, view], [KEEP, 3])  # 8 allocations from 3, then 4 odd threads give one back
    assert structure_count(device, view) == 3 + 8 - 4
    data = words(device, buf)
    assert not data[:3].any() and sorted(data[3:11]) == list(range(8)) and not data[11:].any()


def test_wgsl_declares_the_counter_binding(device):
    """Hand-written WGSL reaches a view's counter at 176 + slot, as the translator's modules do."""
    cs = device.create_compute_shader("""
@group(2) @binding(162) var<storage, read_write> items: array<u32>;
@group(2) @binding(178) var<storage, read_write> items_count: atomic<u32>;
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x % 4u == 0u) {
        let i = atomicAdd(&items_count, 1u);
        if (i < arrayLength(&items)) { items[i] = id.x; }
    }
}
""")
    buf = structured(device)
    view = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    run(device, cs, 1, [None, None, view], [0, 0, 0])
    assert structure_count(device, view) == 8
    assert sorted(words(device, buf)[:8]) == list(range(0, 32, 4))


def test_counter_without_a_counter_view_is_stood_in_for(device):
    """D3D11 leaves counter operations on a view without a counter undefined: the dispatch runs
    (with a stand-in counter), and the views it names stay usable."""
    producer = device.create_compute_shader(corpus("cs_producer_code__0"))
    buf = structured(device)
    run(device, producer, 1, [device.create_unordered_access_view(buf)], [7])  # no counter: the count is ignored
    run(device, producer, 1, [None], [KEEP])
    device.connection.finish()
    append = device.create_unordered_access_view(structured(device), flags=g.BufferViewFlag.APPEND)
    run(device, producer, 1, [append], [0])
    assert structure_count(device, append) == 4


def test_counter_view_rules(device):
    buf = structured(device)
    device.create_shader_resource_view(buf, flags=g.BufferViewFlag.APPEND)
    bad(device, ErrorCode.INVALID_CALL, substring="unordered-access views")
    device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND | g.BufferViewFlag.COUNTER)
    bad(device, ErrorCode.INVALID_CALL, substring="not both")
    typed = device.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS))
    device.create_unordered_access_view(typed, g.DxgiFormat.R32_UINT, flags=g.BufferViewFlag.COUNTER)
    bad(device, ErrorCode.INVALID_CALL, substring="structured")
    raw = device.create_buffer(g.BufferDesc(256, g.BindFlag.UNORDERED_ACCESS,
                                            misc_flags=g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS))
    device.create_unordered_access_view(raw, g.DxgiFormat.R32_TYPELESS,
                                        flags=g.BufferViewFlag.RAW | g.BufferViewFlag.APPEND)
    bad(device, ErrorCode.INVALID_CALL, substring="structured")


def test_copy_structure_count_rules(device):
    ctx = device.get_immediate_context()
    buf = structured(device)
    append = device.create_unordered_access_view(buf, flags=g.BufferViewFlag.APPEND)
    plain = device.create_unordered_access_view(structured(device))
    dst = counts_buffer(device, 4)
    ctx.copy_structure_count(dst, 0, plain)
    bad(device, ErrorCode.INVALID_CALL, substring="APPEND or COUNTER")
    for offset in (2, 16, 0xFFFFFFFC):
        ctx.copy_structure_count(dst, offset, append)
        bad(device, ErrorCode.INVALID_CALL, substring=f"offset {offset}")
    immutable = device.create_buffer(g.BufferDesc(16, g.BindFlag.SHADER_RESOURCE, g.Usage.IMMUTABLE), bytes(16))
    ctx.copy_structure_count(immutable, 0, append)
    bad(device, ErrorCode.INVALID_CALL, substring="IMMUTABLE")
    texture = device.create_texture2d(g.Texture2DDesc(4, 4, g.DxgiFormat.R32_UINT,
                                                      bind_flags=g.BindFlag.UNORDERED_ACCESS))
    ctx.copy_structure_count(dst, 0, device.create_unordered_access_view(texture))
    bad(device, ErrorCode.INVALID_CALL, substring="APPEND or COUNTER")
    # hostile ids: a view where the buffer goes, a buffer where the view goes, ids never made
    conn = device.connection
    conn.emit("COPY_STRUCTURE_COUNT", dst_buffer=append.id, dst_aligned_byte_offset=0, src_view=append.id)
    bad(device, ErrorCode.WRONG_KIND)
    conn.emit("COPY_STRUCTURE_COUNT", dst_buffer=dst.id, dst_aligned_byte_offset=0, src_view=dst.id)
    bad(device, ErrorCode.WRONG_KIND)
    conn.emit("COPY_STRUCTURE_COUNT", dst_buffer=dst.id, dst_aligned_byte_offset=0, src_view=0x7777_0001)
    with pytest.raises(HostReportedError):
        conn.finish()
    conn.emit("COPY_STRUCTURE_COUNT", dst_buffer=0, dst_aligned_byte_offset=0, src_view=append.id)
    with pytest.raises(HostReportedError):
        conn.finish()
    # and the session still serves: the last good offset of the buffer
    ctx.cs_set_unordered_access_views(0, [append], [42])
    ctx.copy_structure_count(dst, 12, append)
    assert list(words(device, dst)) == [0, 0, 0, 42]


def test_translator_counter_declaration_and_refusals():
    from pvgpu.shaders.specialization import DEFAULT
    wgsl = translate.to_wgsl(translate.load(assemble(COUNTER_ASM)), DEFAULT)
    assert "@group(2) @binding(177) var<storage, read_write> u1_count: atomic<u32>;" in wgsl
    assert "atomicAdd(&u1_count, 1u)" in wgsl and "atomicSub(&u1_count, 1u) - 1u" in wgsl
    assert "array<u32>" in wgsl  # the counter instructions leave the buffer's own words non-atomic
    raw = COUNTER_ASM.replace("dcl_uav_structured_opc u1, 4", "dcl_uav_raw u1").replace(
        "store_structured u1.x, r0.x, l(0), vThreadID.x", "store_raw u1.x, r0.x, vThreadID.x")
    with pytest.raises(ShaderInvalid, match="structured"):
        translate.to_wgsl(translate.load(assemble(raw)), DEFAULT)
    pixel = """
ps_5_0
dcl_uav_structured_opc u1, 4
dcl_output o0.xyzw
dcl_temps 1
imm_atomic_alloc r0.x, u1
mov o0.xyzw, l(0,0,0,0)
ret
"""
    # translated in any stage, as UAVs are (the host offers UAVs to compute shaders only)
    wgsl = translate.to_wgsl(translate.load(assemble(pixel)), DEFAULT)
    assert "@group(1) @binding(177) var<storage, read_write> u1_count: atomic<u32>;" in wgsl


def test_host_offers_counters_to_compute_shaders_only(device):
    device.create_pixel_shader("""
@group(1) @binding(176) var<storage, read_write> count: atomic<u32>;
@fragment fn main() -> @location(0) vec4<f32> { return vec4<f32>(f32(atomicAdd(&count, 1u))); }
""")
    bad(device, ErrorCode.UNSUPPORTED, substring="compute shaders only")
    device.create_compute_shader("""
@group(2) @binding(176) var<storage, read> count: array<u32>;
@compute @workgroup_size(1) fn main() { let c = count[0]; }
""")
    bad(device, ErrorCode.INVALID_CALL, substring="uav counter slot 0")
