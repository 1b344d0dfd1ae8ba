"""The WGSL writer's resource instructions, run on wgpu and compared with what D3D11 defines:
raw/structured/typed buffer reads and writes (out of range: reads give 0, writes are
dropped), atomics on UAVs and group-shared memory, texture loads in and out of range,
sampling (1D, arrays, offsets, comparison), gather component selection, resinfo, bufinfo,
typed texture UAVs; plus refusals that must name what is refused."""

from __future__ import annotations

import numpy as np
import pytest

from pvgpu.shaders import ir
from pvgpu.shaders.errors import ShaderInvalid, ShaderUnsupported
from pvgpu.shaders.specialization import Specialization
from pvgpu.shaders.translate import to_wgsl

from .harness import as_float, bits, dcl_temps, dst, imm, ins, src
from .resource_harness import (Buf, D, R, T, cs, dcl_resource_raw, dcl_resource_structured, dcl_sampler,
                               dcl_texture, dcl_tgsm_raw, dcl_tgsm_structured, dcl_uav_raw, dcl_uav_structured,
                               dcl_uav_typed, dispatch, gather_sampler, sampler, slot, slot_mask, texture)

U0 = slot_mask(T.UNORDERED_ACCESS_VIEW, 0)
DEAD = 0xDEADBEEF
TID = ir.Operand(T.INPUT_THREAD_ID_IN_GROUP_FLATTENED, 1, ir.Selection.MASK, 1, (0, 0, 0, 0), ())


def r(n: int, mask: str = "xyzw") -> ir.Operand:
    return dst(T.TEMP, n, mask)


def rs(n: int, swizzle: str = "xyzw") -> ir.Operand:
    return src(T.TEMP, n, swizzle)


def store(offset_bytes: int, value: ir.Operand, mask: str = "xyzw") -> ir.Instruction:
    return ins("store_raw", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, mask), imm(offset_bytes), value)


def out_buffer(words: int) -> Buf:
    return Buf([DEAD] * words)


# ----- buffers -----

def test_raw_reads_writes_and_out_of_range(wgpu_device):
    shader = cs([
        dcl_resource_raw(0), dcl_uav_raw(0), dcl_temps(1),
        ins("ld_raw", r(0), imm(8), slot(T.RESOURCE, 0)),            # words 2, 3 and two past the end
        store(0, rs(0)),
        ins("ld_raw", r(0), imm(4), slot(T.RESOURCE, 0, "zwxy")),    # the swizzle picks words 1 + (2, 3, 0, 1)
        store(16, rs(0)),
        ins("ld_raw", r(0, "y"), imm(1 << 30), slot(T.RESOURCE, 0)),  # far past the end
        store(32, rs(0, "y"), "x"),
        store(56, imm(7, 8, 9, 10), "xyz"),                           # words 14, 15; 16 is past the end
    ])
    out = dispatch(wgpu_device, shader, {"t0": Buf([1, 2, 3, 4]), "u0": out_buffer(16)})["u0"]
    assert out[0:4].tolist() == [3, 4, 0, 0]
    assert out[4:8].tolist() == [4, 0, 2, 3]
    assert out[8] == 0
    assert out[9:14].tolist() == [DEAD] * 5
    assert out[14:16].tolist() == [7, 8]


def test_structured_reads_writes_and_out_of_range(wgpu_device):
    # t0: 3 structures of 12 bytes: (10 + i, 20 + i, 30 + i)
    words = [v for i in range(3) for v in (10 + i, 20 + i, 30 + i)]
    shader = cs([
        dcl_resource_structured(0, 12), dcl_uav_structured(0, 8), dcl_temps(1),
        ins("ld_structured", r(0), imm(1), imm(4), slot(T.RESOURCE, 0)),        # (21, 31, past the stride: 0, 0)
        ins("store_structured", U0, imm(0), imm(0), rs(0)),                     # u0[0] = (21, 31)
        ins("ld_structured", r(0), imm(3), imm(0), slot(T.RESOURCE, 0)),        # structure 3 does not exist
        ins("store_structured", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "xy"), imm(1), imm(0), rs(0, "zwxy")),
        ins("ld_structured", r(0), imm(2), imm(8), slot(T.RESOURCE, 0, "xxxx")),  # (32, 32, 32, 32)
        ins("store_structured", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "xy"), imm(2), imm(0), rs(0)),
        ins("store_structured", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "xy"), imm(3), imm(4), imm(5, 6, 7, 8)),
        ins("store_structured", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "x"), imm(4), imm(0), imm(99)),  # past the end
    ])
    out = dispatch(wgpu_device, shader, {"t0": Buf(words), "u0": out_buffer(8)})["u0"]
    assert out.tolist() == [21, 31, 0, 0, 32, 32, DEAD, 5]  # the 6 of structure 3 is past its stride


def test_typed_buffer_loads_follow_the_bound_format(wgpu_device):
    shader = cs([
        dcl_texture(0, D.BUFFER, R.FLOAT), dcl_uav_raw(0), dcl_temps(1),
        ins("ld", r(0), imm(1, 0, 0, 0), slot(T.RESOURCE, 0)),
        store(0, rs(0)),
        ins("ld", r(0), imm(3, 0, 0, 0), slot(T.RESOURCE, 0)),   # past the 3 elements
        store(16, rs(0)),
        ins("bufinfo", r(0), slot(T.RESOURCE, 0, "xxxx")),
        store(32, rs(0)),
    ])
    data = bits([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    spec = Specialization(typed_buffers=(("t0", 2),))  # R32G32_FLOAT: two words per element
    out = dispatch(wgpu_device, shader, {"t0": Buf(data), "u0": out_buffer(12)}, spec=spec)["u0"]
    assert as_float(out[0:4]).tolist() == [3.0, 4.0, 0.0, 1.0]  # missing blue 0, alpha 1
    assert out[4:8].tolist() == [0, 0, 0, 0]
    assert out[8:12].tolist() == [3, 3, 3, 3]


def test_bufinfo_raw_and_structured(wgpu_device):
    shader = cs([
        dcl_resource_raw(0), dcl_resource_structured(1, 12), dcl_uav_raw(0), dcl_temps(1),
        ins("bufinfo", r(0), slot(T.RESOURCE, 0)),
        store(0, rs(0, "x"), "x"),
        ins("bufinfo", r(0), slot(T.RESOURCE, 1)),
        store(4, rs(0), "xy"),
    ])
    out = dispatch(wgpu_device, shader, {"t0": Buf([0] * 5), "t1": Buf([0] * 9), "u0": out_buffer(4)})["u0"]
    assert out[:3].tolist() == [20, 3, 12]


def test_typed_uav_buffer_store_and_load(wgpu_device):
    shader = cs([
        dcl_uav_typed(1, D.BUFFER, R.UINT), dcl_uav_raw(0), dcl_temps(1),
        ins("store_uav_typed", slot_mask(T.UNORDERED_ACCESS_VIEW, 1), imm(2, 0, 0, 0), imm(7, 8, 9, 10)),
        ins("store_uav_typed", slot_mask(T.UNORDERED_ACCESS_VIEW, 1), imm(4, 0, 0, 0), imm(1, 1, 1, 1)),  # dropped
        ins("ld_uav_typed", r(0), imm(2, 0, 0, 0), slot(T.UNORDERED_ACCESS_VIEW, 1)),
        store(0, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"u1": Buf([5, 5, 5, 5]), "u0": out_buffer(4)})
    assert out["u1"].tolist() == [5, 5, 7, 5]  # R32_UINT (read, so one word per element)
    assert out["u0"].tolist() == [7, 0, 0, 1]


# ----- atomics and group-shared memory -----

def test_atomics_on_a_uav(wgpu_device):
    u0 = lambda: slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "x")  # noqa: E731
    shader = cs([
        dcl_uav_raw(0), dcl_uav_raw(1), dcl_temps(3),
        ins("iadd", r(1, "x"), TID, imm(-32)),
        ins("imm_atomic_iadd", r(0, "x"), u0(), imm(0), imm(1)),
        ins("atomic_imax", u0(), imm(4), rs(1, "x")),
        ins("atomic_imin", u0(), imm(8), rs(1, "x")),
        ins("atomic_umin", u0(), imm(12), TID),
        ins("atomic_cmp_store", u0(), imm(16), imm(0), imm(7)),
        ins("imm_atomic_cmp_exch", r(0, "y"), u0(), imm(20), imm(5), imm(9)),
        ins("ishl", r(2, "x"), imm(1), TID),
        ins("atomic_or", u0(), imm(24), rs(2, "x")),
        ins("imm_atomic_umax", r(0, "z"), u0(), imm(400), imm(1)),    # past the end: nothing, returns 0
        ins("imm_atomic_exch", r(0, "w"), u0(), imm(28), TID),
        ins("ishl", r(2, "x"), TID, imm(4)),
        ins("store_raw", slot_mask(T.UNORDERED_ACCESS_VIEW, 1), rs(2, "x"), rs(0)),
    ], group=(64, 1, 1))
    initial = [0, 0xFFFFFF00, 0, 100, 0, 5, 0, 1000]
    out = dispatch(wgpu_device, shader, {"u0": Buf(initial), "u1": out_buffer(256)})
    u0, per = out["u0"], out["u1"].reshape(64, 4)
    assert u0[:7].tolist() == [64, 31, (-32) & 0xFFFFFFFF, 0, 7, 9, 0xFFFFFFFF]
    assert sorted(per[:, 0].tolist()) == list(range(64))           # every thread saw a distinct count
    assert sorted(per[:, 1].tolist()) == [5] + [9] * 63             # one exchange happened
    assert per[:, 2].tolist() == [0] * 64
    assert sorted(per[:, 3].tolist() + [int(u0[7])]) == sorted(list(range(64)) + [1000])


def test_group_shared_memory_with_barrier(wgpu_device):
    # each thread writes its id into g0 (structured, 4-byte stride), syncs, then reads its
    # neighbour's; g1 (raw) counts the threads atomically.
    g0 = lambda mask="x": slot_mask(T.THREAD_GROUP_SHARED_MEMORY, 0, mask)  # noqa: E731
    shader = cs([
        dcl_tgsm_structured(0, 4, 32), dcl_tgsm_raw(1, 4), dcl_uav_raw(0), dcl_temps(2),
        ins("imul", dst(T.NULL, 0, "x"), r(0, "x"), TID, imm(3)),
        ins("store_structured", g0(), TID, imm(0), rs(0, "x")),
        ins("atomic_iadd", slot_mask(T.THREAD_GROUP_SHARED_MEMORY, 1, "x"), imm(0), imm(1)),
        ins("sync", sync_flags=ir.SyncFlag.THREADS_IN_GROUP | ir.SyncFlag.THREAD_GROUP_SHARED_MEMORY),
        ins("iadd", r(1, "x"), TID, imm(1)),
        ins("and", r(1, "x"), rs(1, "x"), imm(31)),
        ins("ld_structured", r(0, "x"), rs(1, "x"), imm(0), slot(T.THREAD_GROUP_SHARED_MEMORY, 0)),
        ins("ld_raw", r(0, "y"), imm(0), slot(T.THREAD_GROUP_SHARED_MEMORY, 1, "xxxx")),
        ins("ld_structured", r(0, "z"), imm(32), imm(0), slot(T.THREAD_GROUP_SHARED_MEMORY, 0, "xxxx")),  # past the end
        ins("ishl", r(1, "x"), TID, imm(4)),
        ins("store_raw", slot_mask(T.UNORDERED_ACCESS_VIEW, 0, "xyz"), rs(1, "x"), rs(0)),
    ], group=(32, 1, 1))
    out = dispatch(wgpu_device, shader, {"u0": out_buffer(128)})["u0"].reshape(32, 4)
    assert out[:, 0].tolist() == [((i + 1) % 32) * 3 for i in range(32)]
    assert out[:, 1].tolist() == [32] * 32
    assert out[:, 2].tolist() == [0] * 32


# ----- textures -----

def _rgba_ints(shape: tuple[int, ...], base: int = 0) -> np.ndarray:
    n = int(np.prod(shape[:-1]))
    return (np.arange(n * 4, dtype=np.uint32).reshape(*shape[:-1], 4) + base)


def test_ld_in_and_out_of_range(wgpu_device):
    mip0 = _rgba_ints((4, 4, 4))
    mip1 = _rgba_ints((2, 2, 4), 1000)
    _, view = texture(wgpu_device, [mip0, mip1], "rgba32uint")
    shader = cs([
        dcl_texture(0, D.TEXTURE2D, R.UINT), dcl_uav_raw(0), dcl_temps(1),
        ins("ld", r(0), imm(1, 2, 0, 0), slot(T.RESOURCE, 0)),           # (1, 2) of mip 0
        store(0, rs(0)),
        ins("ld", r(0), imm(1, 1, 0, 1), slot(T.RESOURCE, 0, "wzyx")),   # (1, 1) of mip 1, swizzled
        store(16, rs(0)),
        ins("ld", r(0), imm(2, 0, 0, 1), slot(T.RESOURCE, 0)),           # x past mip 1's width
        store(32, rs(0)),
        ins("ld", r(0), imm(0, 0, 0, 2), slot(T.RESOURCE, 0)),           # no mip 2
        store(48, rs(0)),
        ins("ld", r(0), imm(-1, 0, 0, 0), slot(T.RESOURCE, 0)),          # negative
        store(64, rs(0)),
        ins("ld", r(0), imm(0, 0, 0, 0), slot(T.RESOURCE, 0), sample_offsets=(3, 1, 0)),  # (3, 1) by offset
        store(80, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "u0": out_buffer(24)})["u0"].reshape(6, 4)
    assert out[0].tolist() == mip0[2, 1].tolist()
    assert out[1].tolist() == mip1[1, 1][::-1].tolist()
    assert out[2:5].tolist() == [[0, 0, 0, 0]] * 3
    assert out[5].tolist() == mip0[1, 3].tolist()


def test_ld_texture_array_layer_out_of_range(wgpu_device):
    data = _rgba_ints((3, 2, 2, 4))
    _, view = texture(wgpu_device, data, "rgba32sint", layers=3, view_dimension="2d-array")
    shader = cs([
        dcl_texture(0, D.TEXTURE2DARRAY, R.SINT), dcl_uav_raw(0), dcl_temps(1),
        ins("ld", r(0), imm(1, 0, 2, 0), slot(T.RESOURCE, 0)),
        store(0, rs(0)),
        ins("ld", r(0), imm(1, 0, 3, 0), slot(T.RESOURCE, 0)),
        store(16, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "u0": out_buffer(8)})["u0"].reshape(2, 4)
    assert out[0].tolist() == data[2, 0, 1].tolist()
    assert out[1].tolist() == [0, 0, 0, 0]


def test_resinfo_float_uint_rcp_and_past_the_last_mip(wgpu_device):
    mips = [np.zeros((4, 8, 4), np.float16), np.zeros((2, 4, 4), np.float16), np.zeros((1, 2, 4), np.float16)]
    _, view = texture(wgpu_device, [np.stack([m] * 3) for m in mips], "rgba16float", layers=3,
                      view_dimension="2d-array")
    res = slot(T.RESOURCE, 0)
    shader = cs([
        dcl_texture(0, D.TEXTURE2DARRAY), dcl_uav_raw(0), dcl_temps(1),
        ins("resinfo", r(0), imm(1), res, resinfo_type=ir.ResInfoType.UINT),
        store(0, rs(0)),
        ins("resinfo", r(0), imm(0), res, resinfo_type=ir.ResInfoType.FLOAT),
        store(16, rs(0)),
        ins("resinfo", r(0), imm(1), res, resinfo_type=ir.ResInfoType.RCP_FLOAT),
        store(32, rs(0)),
        ins("resinfo", r(0), imm(5), slot(T.RESOURCE, 0, "wzyx"), resinfo_type=ir.ResInfoType.UINT),
        store(48, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "u0": out_buffer(16)})["u0"].reshape(4, 4)
    assert out[0].tolist() == [4, 2, 3, 3]
    assert as_float(out[1]).tolist() == [8.0, 4.0, 3.0, 3.0]
    assert as_float(out[2]).tolist() == [0.25, 0.5, 3.0, 3.0]
    assert out[3].tolist() == [3, 0, 0, 0]  # sizes 0 past the last mip, the count still 3


def test_resinfo_of_1d_and_3d_textures(wgpu_device):
    _, v1 = texture(wgpu_device, np.zeros((1, 16, 4), np.float16), "rgba16float")      # a 1D texture, as pvgpu binds it
    _, v3 = texture(wgpu_device, np.zeros((2, 4, 8, 4), np.float16), "rgba16float", dimension="3d")
    shader = cs([
        dcl_texture(0, D.TEXTURE1D), dcl_texture(1, D.TEXTURE3D), dcl_uav_raw(0), dcl_temps(1),
        ins("resinfo", r(0), imm(0), slot(T.RESOURCE, 0), resinfo_type=ir.ResInfoType.UINT),
        store(0, rs(0)),
        ins("resinfo", r(0), imm(0), slot(T.RESOURCE, 1), resinfo_type=ir.ResInfoType.UINT),
        store(16, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": v1, "t1": v3, "u0": out_buffer(8)})["u0"].reshape(2, 4)
    assert out[0].tolist() == [16, 0, 0, 1]
    assert out[1].tolist() == [8, 4, 2, 1]


def _nearest(device):
    return device.create_sampler(mag_filter="nearest", min_filter="nearest", address_mode_u="clamp-to-edge",
                                 address_mode_v="clamp-to-edge")


def test_sample_l_1d_array_rounding_and_offsets(wgpu_device):
    # 1D array of 3 layers of 8 texels: texel (layer, x) = layer * 10 + x in red
    data = np.zeros((3, 1, 8, 4), np.float16)
    for layer in range(3):
        data[layer, 0, :, 0] = [layer * 10 + x for x in range(8)]
    _, view = texture(wgpu_device, data, "rgba16float", layers=3, view_dimension="2d-array")
    smp = _nearest(wgpu_device)
    res, s0 = slot(T.RESOURCE, 0, "xxxx"), sampler(0)
    cases = [((2.5 / 8, 0.5), None), ((2.5 / 8, 1.5), None), ((2.5 / 8, 2.5), None), ((2.5 / 8, 7.0), None),
             ((2.5 / 8, -3.0), None), ((2.5 / 8, 1.0), (2, 0, 0)), ((2.5 / 8, 1.0), (-8 & 15, 0, 0))]
    prog = [dcl_texture(0, D.TEXTURE1DARRAY), dcl_sampler(0), dcl_uav_raw(0), dcl_temps(1)]
    for i, ((u, layer), off) in enumerate(cases):
        prog += [ins("sample_l", r(0, "x"), imm(u, layer, 0.0, 0.0), res, s0, imm(0.0), sample_offsets=off),
                 store(4 * i, rs(0, "x"), "x")]
    out = dispatch(wgpu_device, cs(prog), {"t0": view, "s0": smp, "u0": out_buffer(len(cases))})["u0"]
    # layer 0.5 rounds to 0 and 1.5 and 2.5 to 2 (nearest even), 7 clamps to 2, -3 to 0
    assert as_float(out).tolist() == [2.0, 22.0, 22.0, 22.0, 2.0, 14.0, 10.0]


def test_sample_l_mips_and_swizzle(wgpu_device):
    mip0 = np.full((2, 2, 4), 1.0, np.float16)
    mip1 = np.array([[[0.25, 0.5, 0.75, 1.0]]], np.float16)
    _, view = texture(wgpu_device, [mip0, mip1], "rgba16float")
    smp = wgpu_device.create_sampler(mipmap_filter="nearest")
    shader = cs([
        dcl_texture(0, D.TEXTURE2D), dcl_sampler(0), dcl_uav_raw(0), dcl_temps(1),
        ins("sample_l", r(0), imm(0.5, 0.5, 0.0, 0.0), slot(T.RESOURCE, 0, "wzyx"), sampler(0), imm(1.0)),
        store(0, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "s0": smp, "u0": out_buffer(4)})["u0"]
    assert as_float(out).tolist() == [1.0, 0.75, 0.5, 0.25]


def test_sample_c_lz_and_gather_c_on_a_depth_texture(wgpu_device):
    depth = np.array([[0, 16384], [49152, 65535]], np.uint16).reshape(2, 2, 1)
    _, view = texture(wgpu_device, depth, "depth16unorm")
    cmp = wgpu_device.create_sampler(compare="less", mag_filter="nearest", min_filter="nearest")
    res, s0 = slot(T.RESOURCE, 0, "xxxx"), sampler(0)
    shader = cs([
        dcl_texture(0, D.TEXTURE2D), dcl_sampler(0, comparison=True), dcl_uav_raw(0), dcl_temps(1),
        ins("sample_c_lz", r(0, "x"), imm(0.75, 0.25, 0.0, 0.0), res, s0, imm(0.5)),   # 0.5 < 0.25: 0
        ins("sample_c_lz", r(0, "y"), imm(0.25, 0.75, 0.0, 0.0), res, s0, imm(0.5)),   # 0.5 < 0.75: 1
        store(0, rs(0), "xy"),
        ins("gather4_c", r(0), imm(0.5, 0.5, 0.0, 0.0), slot(T.RESOURCE, 0), s0, imm(0.5)),
        store(8, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "s0": cmp, "u0": out_buffer(6)})["u0"]
    assert as_float(out[:2]).tolist() == [0.0, 1.0]
    # gather order: (0, 1), (1, 1), (1, 0), (0, 0) -> depths 0.75, 1.0, 0.25, 0.0 compared with 0.5 < d
    assert as_float(out[2:]).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_gather4_selects_the_component_from_the_sampler_swizzle(wgpu_device):
    data = np.zeros((2, 2, 4), np.uint32)
    for y in range(2):
        for x in range(2):
            data[y, x] = [x + 2 * y, 10 + x + 2 * y, 20 + x + 2 * y, 30 + x + 2 * y]
    _, view = texture(wgpu_device, data, "rgba32uint")
    smp = _nearest(wgpu_device)
    shader = cs([
        dcl_texture(0, D.TEXTURE2D, R.UINT), dcl_sampler(0), dcl_uav_raw(0), dcl_temps(1),
        ins("gather4", r(0), imm(0.5, 0.5, 0.0, 0.0), slot(T.RESOURCE, 0), gather_sampler(0, "z")),
        store(0, rs(0)),
        ins("gather4_po", r(0), imm(0.25, 0.25, 0.0, 0.0), imm(1, 1, 0, 0), slot(T.RESOURCE, 0, "xxxx"),
            gather_sampler(0, "y")),
        store(16, rs(0)),
        ins("mov", r(0, "xy"), imm(1, 0, 0, 0)),
        ins("gather4_po", r(0), imm(0.25, 0.25, 0.0, 0.0), rs(0), slot(T.RESOURCE, 0), gather_sampler(0, "x")),
        store(32, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": view, "s0": smp, "u0": out_buffer(12)})["u0"].reshape(3, 4)
    assert out[0].tolist() == [22, 23, 21, 20]  # texels (0, 1), (1, 1), (1, 0), (0, 0), blue
    # the footprint moved by (1, 1) is clamped to texel (1, 1) everywhere: its green, 13
    assert out[1].tolist() == [13] * 4
    # moved by (1, 0) from a register (emulated): (1, 1), (1, 1) clamped, (1, 0), (1, 0) clamped; red
    assert out[2].tolist() == [3, 3, 1, 1]


def test_typed_texture_uav_store_and_load(wgpu_device):
    import wgpu
    tex = wgpu_device.create_texture(size=(4, 2, 1), format="r32uint",
                                     usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC)
    shader = cs([
        dcl_uav_typed(1, D.TEXTURE2D, R.UINT), dcl_uav_raw(0), dcl_temps(1),
        ins("store_uav_typed", slot_mask(T.UNORDERED_ACCESS_VIEW, 1), imm(3, 1, 0, 0), imm(77, 0, 0, 0)),
        ins("store_uav_typed", slot_mask(T.UNORDERED_ACCESS_VIEW, 1), imm(4, 1, 0, 0), imm(88, 0, 0, 0)),  # dropped
        ins("ld_uav_typed", r(0), imm(3, 1, 0, 0), slot(T.UNORDERED_ACCESS_VIEW, 1)),
        store(0, rs(0)),
        ins("ld_uav_typed", r(0), imm(0, 2, 0, 0), slot(T.UNORDERED_ACCESS_VIEW, 1)),  # past the height
        store(16, rs(0)),
        ins("resinfo", r(0), imm(0), slot(T.UNORDERED_ACCESS_VIEW, 1), resinfo_type=ir.ResInfoType.UINT),
        store(32, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"u1": tex.create_view(), "u0": out_buffer(12)})["u0"].reshape(3, 4)
    assert out[0].tolist() == [77, 0, 0, 1]
    assert out[1].tolist() == [0, 0, 0, 0]
    assert out[2].tolist() == [4, 2, 0, 1]
    raw = wgpu_device.queue.read_texture({"texture": tex}, {"bytes_per_row": 256, "rows_per_image": 2}, (4, 2, 1))
    texels = np.frombuffer(bytes(raw), np.uint32).reshape(2, 64)[:, :4]
    assert texels.tolist() == [[0, 0, 0, 0], [0, 0, 0, 77]]


# ----- refusals -----

def _refused(prog, error=ShaderUnsupported) -> str:
    with pytest.raises(error) as e:
        to_wgsl(cs(prog))
    assert e.value.offset is not None or error is ShaderInvalid
    return e.value.message


def test_refusals_name_what_is_refused():
    assert "typed texture UAV u1" in _refused([
        dcl_uav_typed(1, D.TEXTURE2D), ins("atomic_iadd", slot_mask(T.UNORDERED_ACCESS_VIEW, 1, "x"),
                                           imm(0, 0, 0, 0), imm(1))])
    # counters belong to structured buffer UAVs (those: tests/test_uav_counters.py)
    assert "structured buffer UAV" in _refused([dcl_uav_raw(0), dcl_temps(1),
                                                ins("imm_atomic_alloc", r(0, "x"), slot(T.UNORDERED_ACCESS_VIEW, 0))],
                                               ShaderInvalid)
    assert "t3 is used but not declared" in _refused([dcl_temps(1), ins("ld_raw", r(0), imm(0), slot(T.RESOURCE, 3))],
                                                     ShaderInvalid)
    assert "stride" in _refused([dcl_uav_structured(0, 6)], ShaderInvalid)
    assert "group-shared memory" in _refused([dcl_tgsm_raw(0, 1 << 20)], ShaderInvalid)
    assert "implicit-derivative" in _refused([dcl_texture(0, D.TEXTURE2D), dcl_sampler(0), dcl_temps(1),
                                              ins("sample", r(0), imm(0.0, 0.0, 0.0, 0.0), slot(T.RESOURCE, 0),
                                                  sampler(0))])
    assert "mode_default" in _refused([dcl_texture(0, D.TEXTURE2D), dcl_sampler(0), dcl_temps(1),
                                       ins("sample_c_lz", r(0), imm(0.0, 0.0, 0.0, 0.0), slot(T.RESOURCE, 0),
                                           sampler(0), imm(0.5))], ShaderInvalid)
    assert "shader_resource slot 200" in _refused([dcl_resource_raw(200)], ShaderInvalid)


def test_comparison_needs_a_depth_texture_specialization():
    prog = [dcl_texture(0, D.TEXTURE2D), dcl_sampler(0, comparison=True), dcl_temps(1),
            ins("sample_c_lz", r(0), imm(0.0, 0.0, 0.0, 0.0), slot(T.RESOURCE, 0), sampler(0), imm(0.5))]
    assert "texture_depth_2d" in to_wgsl(cs(prog))
    with pytest.raises(ShaderUnsupported, match="t0 is sampled with comparison"):
        to_wgsl(cs(prog), Specialization(textures=((0, "float"),)))


def test_ld_ms_sampleinfo_and_samplepos(wgpu_device):
    import wgpu
    tex = wgpu_device.create_texture(size=(4, 4, 1), format="rgba8uint", sample_count=4,
                                     usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING)
    encoder = wgpu_device.create_command_encoder()
    rp = encoder.begin_render_pass(color_attachments=[{"view": tex.create_view(), "load_op": "clear",
                                                       "store_op": "store", "clear_value": (1, 2, 3, 4)}])
    rp.end()
    wgpu_device.queue.submit([encoder.finish()])
    _, plain = texture(wgpu_device, np.zeros((2, 2, 4), np.uint32), "rgba32uint")
    t0 = slot(T.RESOURCE, 0)
    shader = cs([
        ins("dcl_resource", t0, resource_dimension=D.TEXTURE2DMS, return_types=(R.UINT,) * 4, sample_count=4),
        dcl_texture(1, D.TEXTURE2D, R.UINT), dcl_uav_raw(0), dcl_temps(1),
        ins("ld_ms", r(0), imm(1, 1, 0, 0), t0, imm(2)),
        store(0, rs(0)),
        ins("ld_ms", r(0), imm(1, 1, 0, 0), t0, imm(4)),      # no sample 4
        store(16, rs(0)),
        ins("ld_ms", r(0), imm(4, 0, 0, 0), t0, imm(0)),      # past the width
        store(32, rs(0)),
        ins("sampleinfo", r(0), t0, resinfo_type=ir.ResInfoType.UINT),
        store(48, rs(0)),
        ins("sampleinfo", r(0), slot(T.RESOURCE, 0, "xxxx")),
        store(64, rs(0)),
        ins("samplepos", r(0), t0, imm(1)),
        store(80, rs(0)),
        ins("samplepos", r(0), t0, imm(5)),                   # past the count
        store(96, rs(0)),
        ins("sampleinfo", r(0), slot(T.RESOURCE, 1), resinfo_type=ir.ResInfoType.UINT),  # not multisampled
        store(112, rs(0)),
        ins("resinfo", r(0), imm(0), t0, resinfo_type=ir.ResInfoType.UINT),
        store(128, rs(0)),
    ])
    out = dispatch(wgpu_device, shader, {"t0": tex.create_view(), "t1": plain, "u0": out_buffer(36)})["u0"]
    out = out.reshape(9, 4)
    assert out[0].tolist() == [1, 2, 3, 4]
    assert out[1].tolist() == [0, 0, 0, 0]
    assert out[2].tolist() == [0, 0, 0, 0]
    assert out[3].tolist() == [4, 0, 0, 0]
    assert as_float(out[4]).tolist() == [4.0] * 4
    assert as_float(out[5]).tolist() == [6 / 16, -2 / 16, 0.0, 0.0]
    assert as_float(out[6]).tolist() == [0.0] * 4
    assert out[7].tolist() == [0, 0, 0, 0]
    assert out[8].tolist() == [4, 4, 0, 1]


# ----- implicit derivatives (pixel shaders) -----

def _mip_texture(device):
    """8x8 rgba16float with 4 mips; mip m is (m + 1) in red everywhere."""
    mips = [np.full((8 >> m, 8 >> m, 4), m + 1, np.float16) for m in range(4)]
    return texture(device, mips, "rgba16float")[1]


def test_sample_bias_grad_and_lod_from_derivatives(wgpu_device):
    from .harness import ps
    from .resource_harness import render
    o = lambda n, mask="xyzw": dst(T.OUTPUT, n, mask)  # noqa: E731
    res, s0 = slot(T.RESOURCE, 0), sampler(0)
    shader = ps([
        dcl_texture(0, D.TEXTURE2D), dcl_sampler(0), dcl_temps(1),
        ins("mul", r(0, "xy"), src(T.INPUT, 0, "xyxx"), imm(0.25, 0.25, 0.0, 0.0)),  # uv: a 4x4 target over 8x8 texels
        ins("sample", o(0), rs(0, "xyxx"), res, s0),
        ins("sample_b", o(1), rs(0, "xyxx"), res, s0, imm(1.0)),
        ins("sample_d", o(2), rs(0, "xyxx"), res, s0, imm(0.5, 0.0, 0.0, 0.0), imm(0.0, 0.5, 0.0, 0.0)),
        ins("lod", o(3), rs(0, "xyxx"), slot(T.RESOURCE, 0, "xyzw"), s0),
    ], targets=("f32", "f32", "f32", "f32"), position=0)
    smp = wgpu_device.create_sampler(mipmap_filter="nearest")
    out = render(wgpu_device, shader, {"t0": _mip_texture(wgpu_device), "s0": smp})
    px = {loc: as_float(v[1, 1]).tolist() for loc, v in out.items()}
    assert px[0][0] == 2.0  # two texels per pixel: mip 1
    assert px[1][0] == 3.0  # bias 1: mip 2
    assert px[2][0] == 3.0  # gradients of 4 texels: mip 2
    assert px[3] == [1.0, 1.0, 0.0, 0.0]  # (clamped, unclamped, 0, 0)


def test_sample_c_in_a_pixel_shader(wgpu_device):
    from .harness import ps
    from .resource_harness import render
    depth = np.full((4, 4, 1), 16384, np.uint16)  # 0.25
    _, view = texture(wgpu_device, depth, "depth16unorm")
    cmp = wgpu_device.create_sampler(compare="greater")
    res, s0 = slot(T.RESOURCE, 0, "xxxx"), sampler(0)
    shader = ps([
        dcl_texture(0, D.TEXTURE2D), dcl_sampler(0, comparison=True), dcl_texture(1, D.TEXTURE2D), dcl_sampler(1),
        dcl_temps(1),
        ins("mul", r(0, "xy"), src(T.INPUT, 0, "xyxx"), imm(0.25, 0.25, 0.0, 0.0)),
        ins("sample_c", dst(T.OUTPUT, 0, "x"), rs(0, "xyxx"), res, s0, imm(0.5)),   # 0.5 > 0.25
        ins("sample_c", dst(T.OUTPUT, 0, "y"), rs(0, "xyxx"), res, s0, imm(0.125)),
        ins("sample", dst(T.OUTPUT, 1), rs(0, "xyxx"), slot(T.RESOURCE, 1), sampler(1)),
    ], targets=("f32", "f32"), position=0)
    spec = Specialization(textures=((1, "depth"),))
    out = render(wgpu_device, shader, {"t0": view, "s0": cmp, "t1": view,
                                       "s1": wgpu_device.create_sampler()}, spec=spec)
    assert as_float(out[0][2, 2])[:2].tolist() == [1.0, 0.0]
    assert as_float(out[1][2, 2]).tolist() == [0.25000381469726562, 0.0, 0.0, 1.0]  # depth reads (d, 0, 0, 1)
