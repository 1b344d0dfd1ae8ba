"""Flow control, indexable temps, constant-buffer and icb bounds through the WGSL writer on
a real wgpu device. Each shader runs over a row of pixels; pixel x has r0.x = x."""

from __future__ import annotations

import pytest

from pvgpu.shaders import ir
from pvgpu.shaders.errors import ShaderInvalid, ShaderUnsupported
from pvgpu.shaders.specialization import Specialization
from pvgpu.shaders.translate import to_wgsl

from .harness import T, dcl_cb, dcl_temps, dst, imm, ins, ps, render, src

X = src(T.TEMP, 0, "x")


def _nz(name, *ops):
    return ins(name, *ops, test_nonzero=True)


def run_row(device, body, width, *, temps=3, cb=None, spec=None, extra=()):
    program = [*extra, dcl_temps(temps), ins("ftou", dst(T.TEMP, 0, "x"), src(T.INPUT, 0, "x")),
               ins("mov", dst(T.OUTPUT, 0), imm(0, 0, 0, 0)), *body]
    wgsl = to_wgsl(ps(program, position=0), spec or Specialization())
    out = render(device, wgsl, constant_buffers=cb or {}, size=(width, 1))
    return [int(v) for v in out[0][0, :, 0]], wgsl


def test_if_else(wgpu_device):
    got, _ = run_row(wgpu_device, [
        ins("ult", dst(T.TEMP, 0, "y"), X, imm(2)),
        _nz("if", src(T.TEMP, 0, "y")),
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(1)),
        ins("else"),
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(2)),
        ins("endif")], 4)
    assert got == [1, 1, 2, 2]


def test_if_z(wgpu_device):
    got, _ = run_row(wgpu_device, [
        ins("if", X, test_nonzero=False),
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(7)),
        ins("endif")], 3)
    assert got == [7, 0, 0]


def test_loop_breakc(wgpu_device):
    # r1.x = sum of 0..x-1
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("loop"),
        ins("uge", dst(T.TEMP, 1, "z"), src(T.TEMP, 1, "y"), X),
        _nz("breakc", src(T.TEMP, 1, "z")),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), src(T.TEMP, 1, "y")),
        ins("iadd", dst(T.TEMP, 1, "y"), src(T.TEMP, 1, "y"), imm(1)),
        ins("endloop"),
        ins("mov", dst(T.OUTPUT, 0, "x"), src(T.TEMP, 1, "x"))], 5)
    assert got == [0, 0, 1, 3, 6]


def test_loop_continuec(wgpu_device):
    # counts the even numbers below 6 + x
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("iadd", dst(T.TEMP, 2, "x"), X, imm(6)),
        ins("loop"),
        ins("uge", dst(T.TEMP, 1, "z"), src(T.TEMP, 1, "y"), src(T.TEMP, 2, "x")),
        _nz("breakc", src(T.TEMP, 1, "z")),
        ins("and", dst(T.TEMP, 1, "w"), src(T.TEMP, 1, "y"), imm(1)),
        ins("iadd", dst(T.TEMP, 1, "y"), src(T.TEMP, 1, "y"), imm(1)),
        _nz("continuec", src(T.TEMP, 1, "w")),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(1)),
        ins("endloop"),
        ins("mov", dst(T.OUTPUT, 0, "x"), src(T.TEMP, 1, "x"))], 3)
    assert got == [3, 4, 4]


def test_switch_grouping_fallthrough_default(wgpu_device):
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("switch", X),
        ins("case", imm(0)), ins("case", imm(1)),
        ins("mov", dst(T.TEMP, 1, "x"), imm(10)),
        ins("break"),
        ins("case", imm(2)),
        ins("mov", dst(T.TEMP, 1, "x"), imm(20)),  # falls through into case 3
        ins("case", imm(3)),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(1)),
        ins("break"),
        ins("default"),
        ins("mov", dst(T.TEMP, 1, "x"), imm(99)),
        ins("break"),
        ins("endswitch"),
        ins("mov", dst(T.OUTPUT, 0, "x"), src(T.TEMP, 1, "x"))], 5)
    assert got == [10, 10, 21, 1, 99]


def test_switch_inside_loop_break_leaves_the_switch_only(wgpu_device):
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("loop"),
        ins("uge", dst(T.TEMP, 1, "z"), src(T.TEMP, 1, "y"), imm(3)),
        _nz("breakc", src(T.TEMP, 1, "z")),
        ins("switch", X),
        ins("case", imm(1)),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(100)),
        ins("break"),
        ins("default"),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(1)),
        ins("break"),
        ins("endswitch"),
        ins("iadd", dst(T.TEMP, 1, "y"), src(T.TEMP, 1, "y"), imm(1)),
        ins("endloop"),
        ins("mov", dst(T.OUTPUT, 0, "x"), src(T.TEMP, 1, "x"))], 2)
    assert got == [3, 300]


def test_switch_fallthrough_default_in_the_middle_breakc_and_continue(wgpu_device):
    """Fallthrough is written with each body once (flow.py): a default in the middle that falls
    through, a breakc inside a falling-through body, and a continue from the switch that still
    reaches the enclosing loop."""
    got, wgsl = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("loop"),
        ins("uge", dst(T.TEMP, 1, "z"), src(T.TEMP, 1, "y"), imm(2)),
        _nz("breakc", src(T.TEMP, 1, "z")),
        ins("iadd", dst(T.TEMP, 1, "y"), src(T.TEMP, 1, "y"), imm(1)),
        ins("switch", X),
        ins("case", imm(0)),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(1)),  # falls into default
        ins("default"),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(10)),
        ins("ieq", dst(T.TEMP, 2, "x"), X, imm(3)),
        _nz("breakc", src(T.TEMP, 2, "x")),  # x == 3 leaves the switch here
        ins("case", imm(1)),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(100)),
        ins("ieq", dst(T.TEMP, 2, "x"), X, imm(4)),
        _nz("continuec", src(T.TEMP, 2, "x")),  # x == 4: on with the loop, past the +1000
        ins("case", imm(2)),
        ins("iadd", dst(T.TEMP, 1, "x"), src(T.TEMP, 1, "x"), imm(1000)),
        ins("endswitch"),
        ins("endloop"),
        ins("mov", dst(T.OUTPUT, 0, "x"), src(T.TEMP, 1, "x"))], 5)
    assert got == [2 * 1111, 2 * 1100, 2 * 1000, 2 * 10, 2 * 110]
    assert wgsl.count("+ 1000u") == 1  # each body once


def test_retc_and_ret(wgpu_device):
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(5)),
        ins("ieq", dst(T.TEMP, 0, "y"), X, imm(1)),
        _nz("retc", src(T.TEMP, 0, "y")),
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(7)),
        ins("ret")], 3)
    assert got == [7, 5, 7]


def test_discard(wgpu_device):
    wgsl_body = [
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(1)),
        ins("ieq", dst(T.TEMP, 0, "y"), X, imm(2)),
        _nz("discard", src(T.TEMP, 0, "y"))]
    got, _ = run_row(wgpu_device, wgsl_body, 4)
    assert got == [1, 1, 0, 1]


def test_call_label(wgpu_device):
    got, wgsl = run_row(wgpu_device, [
        ins("ieq", dst(T.TEMP, 0, "y"), X, imm(0)),
        ins("callc", src(T.TEMP, 0, "y"), _label(0), test_nonzero=True),
        ins("call", _label(1)),
        ins("ret"),
        ins("label", _label(0)),
        ins("mov", dst(T.OUTPUT, 0, "x"), imm(42)),
        ins("ret"),
        ins("label", _label(1)),
        ins("iadd", dst(T.OUTPUT, 0, "x"), src(T.OUTPUT, 0, "x"), imm(1)),
        ins("ret")], 2)
    assert got == [43, 1]
    assert "fn label0()" in wgsl


def _label(n):
    return ir.Operand(T.LABEL, 0, ir.Selection.MASK, 0, (0, 0, 0, 0), (ir.Index(n),))


def test_recursion_refused():
    with pytest.raises(ShaderUnsupported, match="recursive"):
        to_wgsl(ps([ins("call", _label(0)), ins("ret"), ins("label", _label(0)), ins("call", _label(0)),
                    ins("ret")]))


def test_infinite_loop_terminates(wgpu_device):
    got, wgsl = run_row(wgpu_device, [ins("loop"), ins("endloop"), ins("mov", dst(T.OUTPUT, 0, "x"), imm(9))], 2)
    assert got == [9, 9]
    assert "loop_budget" in wgsl


def test_nesting_is_bounded():
    body = [_nz("if", imm(1))] * 65 + [ins("endif")] * 65
    with pytest.raises(ShaderUnsupported, match="nested deeper"):
        to_wgsl(ps([dcl_temps(1), *body]))


@pytest.mark.parametrize("body", [
    [ins("endif")],
    [_nz("if", imm(1))],
    [ins("loop"), ins("endif")],
    [ins("else")],
    [ins("break")],
    [ins("case", imm(1))],
    [ins("switch", imm(1)), ins("mov", dst(T.TEMP, 0), imm(1, 1, 1, 1)), ins("endswitch")],
    [ins("switch", imm(1)), ins("case", imm(1)), ins("case", imm(1)), ins("break"), ins("endswitch")],
    [ins("switch", imm(1)), ins("case", imm(1)), _nz("if", imm(1)), ins("case", imm(2)), ins("endif"),
     ins("endswitch")],
    [ins("mov", dst(T.TEMP, 5), imm(1, 1, 1, 1))],
])
def test_malformed_flow_is_invalid(body):
    with pytest.raises(ShaderInvalid):
        to_wgsl(ps([dcl_temps(1), *body]))


def test_indexable_temp_bounds(wgpu_device):
    # x0[4]: x0[x] = x + 1 (x = 4, 5 are out of range: dropped); o0.x = x0[x] (0 when out of range)
    got, _ = run_row(wgpu_device, [
        ins("mov", dst(T.TEMP, 1), imm(0, 0, 0, 0)),
        ins("iadd", dst(T.TEMP, 1, "x"), X, imm(1)),
        ins("mov", _xdst(0, X), src(T.TEMP, 1, "x")),
        ins("mov", dst(T.OUTPUT, 0, "x"), _xsrc(0, X)),
        ins("mov", dst(T.OUTPUT, 0, "y"), _xsrc(0, X, 100))],
        6, extra=[ins("dcl_indexableTemp", values=(0, 4, 4))])
    assert got == [1, 2, 3, 4, 0, 0]


def _xdst(reg, rel, base=0):
    return ir.Operand(T.INDEXABLE_TEMP, 4, ir.Selection.MASK, 0b0001, (0, 0, 0, 0),
                      (ir.Index(reg), ir.Index(base, rel, ir.IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE)))


def _xsrc(reg, rel, base=0):
    return ir.Operand(T.INDEXABLE_TEMP, 4, ir.Selection.SELECT1, 0b1111, (0, 0, 0, 0),
                      (ir.Index(reg), ir.Index(base, rel, ir.IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE)))


def test_constant_buffer_bounds(wgpu_device):
    cb = {0: [10, 0, 0, 0, 11, 0, 0, 0, 12, 0, 0, 0, 13, 0, 0, 0]}
    body = [ins("mov", dst(T.OUTPUT, 0, "x"), src(T.CONSTANT_BUFFER, (0, 0), "x", relative=X))]
    got, _ = run_row(wgpu_device, body, 6, cb=cb, extra=[dcl_cb(0, 4)])
    assert got == [10, 11, 12, 13, 0, 0]
    # bound smaller than declared: reads at or past the bound give 0
    got, _ = run_row(wgpu_device, body, 6, cb=cb, extra=[dcl_cb(0, 4)],
                     spec=Specialization(constant_buffer_sizes=((0, 2),)))
    assert got == [10, 11, 0, 0, 0, 0]
    # a static index past the declared size reads 0
    got, _ = run_row(wgpu_device, [ins("mov", dst(T.OUTPUT, 0, "x"), src(T.CONSTANT_BUFFER, (0, 7), "x"))],
                     1, cb=cb, extra=[dcl_cb(0, 4)])
    assert got == [0]


def test_immediate_constant_buffer(wgpu_device):
    icb = ins("dcl_immediateConstantBuffer", data=(0x7FA00001, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0))
    icb_src = ir.Operand(T.IMMEDIATE_CONSTANT_BUFFER, 4, ir.Selection.SELECT1, 0b1111, (0, 0, 0, 0),
                         (ir.Index(0, X, ir.IndexRepresentation.RELATIVE),))
    got, _ = run_row(wgpu_device, [ins("mov", dst(T.OUTPUT, 0, "x"), icb_src)], 4, extra=[icb])
    assert got == [0x7FA00001, 5, 6, 0]
