"""ALU instructions through the WGSL writer on a real wgpu device, against the values the
D3D11 instruction set defines (bit-exact where D3D is exact; NaN results checked as NaN).

Each instruction runs once over a row of pixels: pixel x reads its sources from
cb0[x + k * width] (relative constant-buffer indexing) and writes o0 (and o1) as uint bits;
four cases share one pixel, one per component."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pvgpu.shaders import ir
from pvgpu.shaders.translate import to_wgsl

from .harness import T, bits, dcl_cb, dcl_temps, dst, imm, ins, ps, render, src

NAN = math.nan
INF = math.inf
TRUE = 0xFFFFFFFF


def _expected_ok(got: int, want) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return (got & 0x7FFFFFFF) > 0x7F800000
    return got == int(bits([want])[0])


def run_cases(device, name: str, cases: list[tuple[tuple, tuple]], *, saturate: bool = False,
              modifiers: tuple[ir.Modifier, ...] = ()) -> None:
    """cases: (sources, results) with one value per source / destination."""
    n_src = len(cases[0][0])
    n_dst = len(cases[0][1])
    rows = [cases[i:i + 4] for i in range(0, len(cases), 4)]
    width = len(rows)
    data = []
    for k in range(n_src):
        for row in rows:
            comp = [c[0][k] for c in row] + [0] * (4 - len(row))
            data.extend(comp)
    index = src(T.TEMP, 0, "x")
    sources = [src(T.CONSTANT_BUFFER, (0, k * width), relative=index,
                   modifier=modifiers[k] if k < len(modifiers) else ir.Modifier.NONE) for k in range(n_src)]
    program = [dcl_cb(0, n_src * width), dcl_temps(1),
               ins("ftou", dst(T.TEMP, 0, "x"), src(T.INPUT, 0, "x")),
               ins(name, *[dst(T.OUTPUT, i) for i in range(n_dst)], *sources, saturate=saturate),
               ins("ret")]
    wgsl = to_wgsl(ps(program, targets=("u32",) * n_dst, position=0))
    out = render(device, wgsl, constant_buffers={0: data}, size=(width, 1))
    failures = []
    for r, row in enumerate(rows):
        for c, (args, results) in enumerate(row):
            for d, want in enumerate(results):
                got = int(out[d][0, r, c])
                if not _expected_ok(got, want):
                    failures.append(f"{name}{args} -> o{d} = {got:#010x}, expected {want!r}")
    assert not failures, "\n".join(failures)


CASES = {
    "add": [((1.5, 2.25), (3.75,)), ((INF, -INF), (NAN,)), ((3e38, 3e38), (INF,)), ((-0.0, 0.0), (0.0,))],
    "mul": [((2.0, -3.0), (-6.0,)), ((0.0, INF), (NAN,)), ((1e30, 1e30), (INF,))],
    "mad": [((2.0, 3.0, 4.0), (10.0,)), ((-1.0, 0.5, 0.5), (0.0,))],
    "div": [((1.0, 0.0), (INF,)), ((-1.0, 0.0), (-INF,)), ((0.0, 0.0), (NAN,)), ((6.0, 3.0), (2.0,))],
    "min": [((1.0, NAN), (1.0,)), ((NAN, 2.0), (2.0,)), ((-1.0, 3.0), (-1.0,)), ((INF, 5.0), (5.0,)),
            ((NAN, NAN), (NAN,))],
    "max": [((1.0, NAN), (1.0,)), ((NAN, 2.0), (2.0,)), ((-1.0, 3.0), (3.0,)), ((-INF, -5.0), (-5.0,))],
    "sqrt": [((4.0,), (2.0,)), ((-1.0,), (NAN,)), ((INF,), (INF,)), ((0.0,), (0.0,))],
    "rcp": [((4.0,), (0.25,)), ((0.0,), (INF,)), ((-0.0,), (-INF,)), ((INF,), (0.0,))],
    "rsq": [((4.0,), (0.5,)), ((0.0,), (INF,)), ((-1.0,), (NAN,))],
    "exp": [((3.0,), (8.0,)), ((-INF,), (0.0,)), ((0.0,), (1.0,))],
    "log": [((8.0,), (3.0,)), ((0.0,), (-INF,)), ((-1.0,), (NAN,)), ((1.0,), (0.0,))],
    "frc": [((1.25,), (0.25,)), ((-1.25,), (0.75,)), ((3.0,), (0.0,))],
    "round_ne": [((2.5,), (2.0,)), ((3.5,), (4.0,)), ((-2.5,), (-2.0,)), ((0.4,), (0.0,))],
    "round_ni": [((-1.5,), (-2.0,)), ((1.7,), (1.0,))],
    "round_pi": [((-1.5,), (-1.0,)), ((1.2,), (2.0,))],
    "round_z": [((-1.7,), (-1.0,)), ((1.7,), (1.0,))],
    "eq": [((1.0, 1.0), (TRUE,)), ((NAN, NAN), (0,)), ((0.0, -0.0), (TRUE,)), ((1.0, 2.0), (0,))],
    "ne": [((NAN, NAN), (TRUE,)), ((1.0, 2.0), (TRUE,)), ((1.0, 1.0), (0,)), ((NAN, 1.0), (TRUE,))],
    "lt": [((NAN, 1.0), (0,)), ((1.0, 2.0), (TRUE,)), ((2.0, 1.0), (0,)), ((-INF, INF), (TRUE,))],
    "ge": [((NAN, 1.0), (0,)), ((2.0, 2.0), (TRUE,)), ((1.0, 2.0), (0,)), ((1.0, NAN), (0,))],
    "ftoi": [((1.9,), (1,)), ((-1.9,), (-1,)), ((NAN,), (0,)), ((INF,), (0x7FFFFFFF,)), ((-INF,), (0x80000000,)),
             ((3e9,), (0x7FFFFFFF,)), ((-3e9,), (0x80000000,)), ((-2147483648.0,), (0x80000000,))],
    "ftou": [((-1.0,), (0,)), ((NAN,), (0,)), ((INF,), (0xFFFFFFFF,)), ((5e9,), (0xFFFFFFFF,)),
             ((3e9,), (3000000000,)), ((1.9,), (1,)), ((-INF,), (0,))],
    "itof": [((-2,), (-2.0,)), ((0x7FFFFFFF,), (2147483648.0,))],
    "utof": [((0xFFFFFFFF,), (4294967296.0,)), ((3,), (3.0,))],
    "iadd": [((0xFFFFFFFF, 1), (0,)), ((5, -7), (-2,))],
    "ineg": [((5,), (-5,)), ((0x80000000,), (0x80000000,)), ((0,), (0,))],
    "imad": [((3, -4, 5), (-7,)), ((0x10000, 0x10000, 1), (1,))],
    "umad": [((0x10000, 0x10000, 1), (1,)), ((7, 6, 0xFFFFFFFF), (41,))],
    "imin": [((-1, 1), (-1,)), ((0x80000000, 0x7FFFFFFF), (0x80000000,))],
    "imax": [((-1, 1), (1,)), ((0x80000000, 0x7FFFFFFF), (0x7FFFFFFF,))],
    "umin": [((0xFFFFFFFF, 1), (1,))],
    "umax": [((0xFFFFFFFF, 1), (0xFFFFFFFF,))],
    "ishl": [((1, 33), (2,)), ((1, 31), (0x80000000,)), ((3, 32), (3,)), ((1, 0xFFFFFFFF), (0x80000000,))],
    "ishr": [((0x80000000, 4), (0xF8000000,)), ((-8, 33), (-4,)), ((0x40000000, 62), (1,))],
    "ushr": [((0x80000000, 35), (0x10000000,)), ((0xFFFFFFFF, 32), (0xFFFFFFFF,))],
    "and": [((0xFF00FF00, 0x0FF00FF0), (0x0F000F00,))],
    "or": [((0xFF00FF00, 0x0FF00FF0), (0xFFF0FFF0,))],
    "xor": [((0xFF00FF00, 0x0FF00FF0), (0xF0F0F0F0,))],
    "not": [((0xFF00FF00,), (0x00FF00FF,))],
    "ieq": [((5, 5), (TRUE,)), ((5, 6), (0,))],
    "ine": [((5, 5), (0,)), ((5, 6), (TRUE,))],
    "ige": [((-1, 0), (0,)), ((0, -1), (TRUE,)), ((3, 3), (TRUE,))],
    "ilt": [((-1, 0), (TRUE,)), ((0, -1), (0,))],
    "uge": [((0xFFFFFFFF, 0), (TRUE,)), ((0, 1), (0,))],
    "ult": [((0xFFFFFFFF, 0), (0,)), ((0, 1), (TRUE,))],
    "udiv": [((7, 2), (3, 1)), ((7, 0), (0xFFFFFFFF, 0xFFFFFFFF)), ((0xFFFFFFFF, 0x10), (0x0FFFFFFF, 0xF)),
             ((0, 0), (0xFFFFFFFF, 0xFFFFFFFF))],
    "umul": [((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFE, 1)), ((0x10000, 0x10000), (1, 0)), ((3, 5), (0, 15)),
             ((0x12345678, 0x9ABCDEF0), (0x0B00EA4E, 0x242D2080))],
    "imul": [((-1, -1), (0, 1)), ((-2, 3), (0xFFFFFFFF, -6)), ((0x80000000, 0x80000000), (0x40000000, 0)),
             ((0x7FFFFFFF, -1), (0xFFFFFFFF, 0x80000001))],
    "uaddc": [((0xFFFFFFFF, 2), (1, 1)), ((1, 2), (3, 0))],
    "usubb": [((1, 2), (0xFFFFFFFF, 1)), ((5, 3), (2, 0))],
    "ubfe": [((4, 4, 0x12345678), (0x7,)), ((0, 4, 0x12345678), (0,)), ((8, 28, 0xF0000000), (0xF,)),
             ((36, 0, 0xABCD), (0xD,)), ((32, 0, 0xABCD), (0,))],
    "ibfe": [((4, 4, 0xF0), (-1,)), ((4, 28, 0x80000000), (-8,)), ((4, 4, 0x70), (7,)), ((8, 28, 0x80000000), (-8,))],
    "bfi": [((8, 4, 0xFF, 0), (0xFF0,)), ((4, 0, 0x5, 0xFFFFFFFF), (0xFFFFFFF5,)), ((8, 28, 0xFF, 0), (0xF0000000,)),
            ((0, 4, 0xFF, 0x1234), (0x1234,))],
    "countbits": [((0xFFFFFFFF,), (32,)), ((0,), (0,)), ((0x10101,), (3,))],
    "firstbit_hi": [((1,), (31,)), ((0x80000000,), (0,)), ((0,), (0xFFFFFFFF,)), ((0x10000,), (15,))],
    "firstbit_lo": [((8,), (3,)), ((0,), (0xFFFFFFFF,)), ((0x80000000,), (31,))],
    "firstbit_shi": [((-1,), (0xFFFFFFFF,)), ((0,), (0xFFFFFFFF,)), ((1,), (31,)), ((0x80000000,), (1,)),
                     ((-2,), (31,))],
    "bfrev": [((1,), (0x80000000,)), ((0x0000FFFF,), (0xFFFF0000,))],
    "f16tof32": [((0x3C00,), (1.0,)), ((0x7C00,), (INF,)), ((0xC000,), (-2.0,)), ((0x12343C00,), (1.0,))],
    "f32tof16": [((1.0,), (0x3C00,)), ((-2.0,), (0xC000,)), ((65504.0,), (0x7BFF,)), ((INF,), (0x7C00,))],
    "movc": [((1, 1.0, 2.0), (1.0,)), ((0, 0x7FC00001, 0x7FA00001), (0x7FA00001,)),
             ((0x80000000, 0xFFFFFFFF, 0), (0xFFFFFFFF,))],
    "mov": [((0x7FA00001,), (0x7FA00001,)), ((0xFFFFFFFF,), (0xFFFFFFFF,)), ((-0.0,), (-0.0,))],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_instruction(wgpu_device, name):
    run_cases(wgpu_device, name, CASES[name])


def test_saturate_maps_nan_to_zero(wgpu_device):
    run_cases(wgpu_device, "mov", [((NAN,), (0.0,)), ((2.0,), (1.0,)), ((-1.0,), (0.0,)), ((0.5,), (0.5,)),
                                   ((-0.0,), (0.0,))], saturate=True)
    run_cases(wgpu_device, "add", [((0.75, 0.75), (1.0,)), ((INF, -INF), (0.0,))], saturate=True)


def test_modifiers(wgpu_device):
    run_cases(wgpu_device, "add", [((1.0, 2.0), (1.0,)), ((-4.0, 1.0), (5.0,))],
              modifiers=(ir.Modifier.NEG, ir.Modifier.NONE))
    run_cases(wgpu_device, "add", [((-1.0, 0.0), (-1.0,)), ((2.0, 0.0), (-2.0,))],
              modifiers=(ir.Modifier.NEG | ir.Modifier.ABS, ir.Modifier.NONE))
    # on an integer instruction NEG is two's complement negation
    run_cases(wgpu_device, "iadd", [((5, 10), (5,)), ((-3, 0), (3,))],
              modifiers=(ir.Modifier.NEG, ir.Modifier.NONE))


def _one_pixel(device, instructions, targets=("u32",), cb=None) -> list[np.ndarray]:
    wgsl = to_wgsl(ps(instructions, targets=targets))
    out = render(device, wgsl, constant_buffers=cb or {}, size=(1, 1))
    return [out[i][0, 0] for i in range(len(targets))]


def test_dot_products_and_immediates(wgpu_device):
    a, b = imm(1.0, 2.0, 3.0, 4.0), imm(5.0, 6.0, 7.0, 8.0)
    (o0,) = _one_pixel(wgpu_device, [
        ins("dp2", dst(T.OUTPUT, 0, "x"), a, b),
        ins("dp3", dst(T.OUTPUT, 0, "y"), a, b),
        ins("dp4", dst(T.OUTPUT, 0, "zw"), a, b)])
    assert list(o0.view(np.float32)) == [17.0, 38.0, 70.0, 70.0]


def test_all_immediate_sources_are_not_folded(wgpu_device):
    # naga's constant evaluator would refuse 1e38 * 10 (infinite) and 1 / 0 at compile time
    (o0,) = _one_pixel(wgpu_device, [
        ins("mul", dst(T.OUTPUT, 0, "x"), imm(1e38), imm(10.0)),
        ins("div", dst(T.OUTPUT, 0, "y"), imm(1.0), imm(0.0)),
        ins("udiv", dst(T.OUTPUT, 0, "z"), dst(T.NULL, 0, "z"), imm(5), imm(0)),
        ins("ineg", dst(T.OUTPUT, 0, "w"), imm(0x80000000))])
    assert [int(x) for x in o0] == [0x7F800000, 0x7F800000, 0xFFFFFFFF, 0x80000000]
    o0, o1 = _one_pixel(wgpu_device, [
        ins("umul", dst(T.OUTPUT, 0), dst(T.OUTPUT, 1), imm(0xFFFFFFFF), imm(0xFFFFFFFF)),
        ins("imad", dst(T.OUTPUT, 1, "y"), imm(0x7FFFFFFF), imm(4), imm(0x7FFFFFFF)),
        ins("ishl", dst(T.OUTPUT, 1, "z"), imm(0xFFFFFFFF), imm(36))], targets=("u32", "u32"))
    assert int(o0[0]) == 0xFFFFFFFE and [int(x) for x in o1] == [1, 0x7FFFFFFB, 0xFFFFFFF0, 1]


def test_immediate_nan_bits_survive_mov(wgpu_device):
    (o0,) = _one_pixel(wgpu_device, [ins("mov", dst(T.OUTPUT, 0), imm(0x7FA00001, 0xFFC00000, 0x7F800000, 0x80000000))])
    assert [int(x) for x in o0] == [0x7FA00001, 0xFFC00000, 0x7F800000, 0x80000000]


def test_sincos_with_null_destination(wgpu_device):
    (o0,) = _one_pixel(wgpu_device, [
        dcl_temps(1),
        ins("mov", dst(T.TEMP, 0), imm(0.0, 0.0, 0.0, 0.0)),
        ins("sincos", dst(T.NULL, 0), dst(T.TEMP, 0, "xy"), imm(0.0, 3.14159265, 0.0, 0.0)),
        ins("sincos", dst(T.TEMP, 0, "zw"), dst(T.NULL, 0), imm(0.0, 0.0, 0.0, 1.5707963)),
        ins("mov", dst(T.OUTPUT, 0), src(T.TEMP, 0))], targets=("f32",))
    got = o0.view(np.float32)
    assert got[0] == 1.0 and abs(got[1] + 1.0) < 1e-5 and got[2] == 0.0 and abs(got[3] - 1.0) < 1e-5


def test_sincos_source_is_destination(wgpu_device):
    (o0,) = _one_pixel(wgpu_device, [
        dcl_temps(1),
        ins("mov", dst(T.TEMP, 0), imm(0.0, 0.0, 0.0, 0.0)),
        ins("sincos", dst(T.TEMP, 0, "x"), dst(T.TEMP, 0, "y"), src(T.TEMP, 0, "xxxx")),
        ins("mov", dst(T.OUTPUT, 0), src(T.TEMP, 0))], targets=("f32",))
    assert list(o0.view(np.float32)) == [0.0, 1.0, 0.0, 0.0]


def test_swapc(wgpu_device):
    o0, o1 = _one_pixel(wgpu_device, [
        ins("swapc", dst(T.OUTPUT, 0), dst(T.OUTPUT, 1), imm(1, 0, 1, 0), imm(1, 2, 3, 4), imm(5, 6, 7, 8))],
        targets=("u32", "u32"))
    assert [int(x) for x in o0] == [5, 2, 7, 4]
    assert [int(x) for x in o1] == [1, 6, 3, 8]


def test_swizzle_and_mask(wgpu_device):
    (o0,) = _one_pixel(wgpu_device, [
        dcl_temps(1),
        ins("mov", dst(T.TEMP, 0), imm(1, 2, 3, 4)),
        ins("mov", dst(T.OUTPUT, 0), imm(9, 9, 9, 9)),
        ins("iadd", dst(T.OUTPUT, 0, "yw"), src(T.TEMP, 0, "wzyx"), imm(10, 20, 30, 40))])
    # component c of the destination takes swizzle[c] of each source: y <- r0.z + 20, w <- r0.x + 40
    assert [int(x) for x in o0] == [9, 23, 9, 41]


def test_derivatives_only_in_pixel_shaders():
    from pvgpu.shaders.errors import ShaderUnsupported
    shader = ps([dcl_temps(1), ins("deriv_rtx", dst(T.TEMP, 0), src(T.TEMP, 0))])
    assert "dpdx(" in to_wgsl(shader)
    cs = shader.__class__(**{**shader.__dict__, "stage": ir.ProgramType.COMPUTE,
                             "program": ir.Program(ir.ProgramType.COMPUTE, 5, 0, (
                                 ins("dcl_thread_group", values=(1, 1, 1)), dcl_temps(1),
                                 ins("deriv_rtx", dst(T.TEMP, 0), src(T.TEMP, 0)))),
                             "workgroup_size": (1, 1, 1)})
    with pytest.raises(ShaderUnsupported, match="deriv_rtx"):
        to_wgsl(cs)


def test_doubles_refused_naming_the_opcode():
    from pvgpu.shaders.errors import ShaderUnsupported
    shader = ps([dcl_temps(1), ir.Instruction("dadd", 0xBF, offset=17, operands=(
        dst(T.TEMP, 0), src(T.TEMP, 0), src(T.TEMP, 0)))])
    with pytest.raises(ShaderUnsupported, match=r"dadd.*token 17"):
        to_wgsl(shader)
