"""Double-precision instructions (d*, ftod/itod/utod), given the host's "shader-f64" and
"shader-int64" (naga has f64 arithmetic but bitcasts f64 only to and from u64).

A double lives in two 32-bit components of a register, low word first: .xy or .zw. Values
cross into f64 as `bitcast<f64>(u64(hi) << 32 | u64(lo))` and back the same way, so every
move is bit-exact; neg/abs flip/clear the sign bit of the high word (NaNs included);
dmov/dmovc/dmin/dmax select bits and never round-trip a value through f64 arithmetic.

Operand shapes (what fxc writes; anything else where D3D's documents leave the pairing open
is refused rather than guessed):
- a double result (dmov, dadd, ..., ftod): destination mask .xy, .zw or .xyzw; the double
  written at pair p (components 2p, 2p+1) reads source double (swizzle[2p], swizzle[2p+1]),
  which must be (x, y) or (z, w); a 32-bit source of ftod/itod/utod reads swizzle[p]; the
  condition of dmovc reads swizzle[2p];
- a 32-bit result (dtof, dtoi, dtou, deq, dne, dlt, dge): one or two destination components;
  the k-th written component reads source double k (swizzle[2k], swizzle[2k+1]).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import ir

if TYPE_CHECKING:
    from .writer import Writer

_T = ir.OperandType
_FEATURES = ("shader-f64", "shader-int64")
_PAIRS = {(0, 1), (2, 3)}

HELPERS = {
    "d_from": """fn d_from(b: vec2<u32>) -> f64 {
    return bitcast<f64>((u64(b.y) << 32u) | u64(b.x));
}""",
    "d_bits": """fn d_bits(x: f64) -> vec2<u32> {
    let r = bitcast<u64>(x);
    return vec2<u32>(u32(r & 0xfffffffflu), u32(r >> 32u));
}""",
    "d_isnan": """fn d_isnan(b: vec2<u32>) -> bool {
    let e = b.y & 0x7fffffffu;
    return e > 0x7ff00000u || (e == 0x7ff00000u && b.x != 0u);
}""",
}


def _helper(w: "Writer", name: str) -> str:
    return w.helper(name, HELPERS[name])


def _require(w: "Writer", ins: ir.Instruction) -> None:
    for f in _FEATURES:
        w.require(f, ins, "doubles")


def _source_swizzle(w: "Writer", op: ir.Operand) -> list[int]:
    if op.type in (_T.IMMEDIATE32, _T.IMMEDIATE64):
        return [0, 1, 2, 3]
    if op.components == 1 or op.selection == ir.Selection.SELECT1:
        return [op.swizzle[0]] * 4
    if op.selection == ir.Selection.MASK:
        w.invalid(w.ins, "a double source with a mask instead of a swizzle")
    return list(op.swizzle)


def _bits(w: "Writer", op: ir.Operand, k: int) -> str:
    """Source double k of `op` (swizzle components 2k, 2k+1) as its vec2<u32> bits, with
    neg/abs applied to the sign bit."""
    ins = w.ins
    if op.type == _T.IMMEDIATE64:
        values = op.values
        if len(values) not in (2, 4):
            w.invalid(ins, f"a 64-bit immediate of {len(values)} words")
        lo, hi = (values[2 * k], values[2 * k + 1]) if len(values) == 4 else (values[0], values[1])
        expr = f"vec2<u32>({lo:#010x}u, {hi:#010x}u)"
    elif op.type == _T.IMMEDIATE32:
        w.invalid(ins, "a 32-bit immediate as a double source")
    else:
        sw = _source_swizzle(w, op)
        pair = (sw[2 * k], sw[2 * k + 1])
        if pair not in _PAIRS:
            w.unsupported(ins, f"a double source with swizzle .{''.join('xyzw'[c] for c in sw)} "
                               "(each double must be .xy or .zw)")
        expr = w.read(replace(op, modifier=ir.Modifier.NONE), "u32", list(pair))
    t = w.tmp(expr, "vec2<u32>")
    if op.modifier & ir.Modifier.ABS:
        t = w.tmp(f"vec2<u32>({t}.x, {t}.y & 0x7fffffffu)", "vec2<u32>")
    if op.modifier & ir.Modifier.NEG:
        t = w.tmp(f"vec2<u32>({t}.x, {t}.y ^ 0x80000000u)", "vec2<u32>")
    return t


def _value(w: "Writer", bits: str) -> str:
    return w.tmp(f"{_helper(w, 'd_from')}({bits})", "f64")


def _double_pairs(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand]) -> list[int]:
    """The pairs (0: .xy, 1: .zw) a double-result instruction writes."""
    dst = ins.operands[0]
    if dst.type == _T.NULL:
        return []
    if dst.components != 4 or dst.mask not in (0b0011, 0b1100, 0b1111):
        w.invalid(ins, "a double destination must be .xy, .zw or .xyzw")
    pairs = [p for p in (0, 1) if dst.mask >> 2 * p & 0b11]
    if pairs == [1]:
        for op in sources:
            if op.type in (_T.IMMEDIATE32, _T.IMMEDIATE64):
                continue
            sw = _source_swizzle(w, op)
            if sw[0:2] != sw[2:4]:
                w.unsupported(ins, "a .zw double destination with a source whose halves differ "
                                   f"(.{''.join('xyzw'[c] for c in sw)}): the pairing is ambiguous")
    return pairs


def _store_double(w: "Writer", ins: ir.Instruction, p: int, bits: str) -> None:
    dst = ins.operands[0]
    w.dst_packed(replace(dst, mask=0b11 << 2 * p), bits, "u32")


def _double_op(fn):
    """A handler for instructions with a double result: fn(w, ins, [source bits], [f64 values
    (made on demand)]) -> vec2<u32> bits of the result (an expression)."""
    def handle(w: "Writer", ins: ir.Instruction) -> None:
        _require(w, ins)
        sources = list(ins.operands[1:])
        results = []
        for p in _double_pairs(w, ins, sources):
            results.append((p, fn(w, ins, sources, p)))
        for p, bits in results:  # all reads before any write (a source may be the destination)
            _store_double(w, ins, p, bits)
    return handle


def _arith(expr: str, count: int):
    def make(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand], p: int) -> str:
        if len(sources) != count:
            w.invalid(ins, f"{len(sources)} sources, expected {count}")
        vals = [_value(w, _bits(w, s, p)) for s in sources]
        result = w.tmp(expr.format(*vals), "f64")
        if ins.saturate:
            bits = w.tmp(f"{_helper(w, 'd_bits')}({result})", "vec2<u32>")
            result = w.tmp(f"select(clamp({result}, 0.0lf, 1.0lf), 0.0lf, {_helper(w, 'd_isnan')}({bits}))", "f64")
        return w.tmp(f"{_helper(w, 'd_bits')}({result})", "vec2<u32>")
    return make


def _dmov(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand], p: int) -> str:
    if len(sources) != 1:
        w.invalid(ins, f"{len(sources)} sources, expected 1")
    bits = _bits(w, sources[0], p)
    if ins.saturate:
        return _arith("{0}", 1)(w, ins, sources, p)
    return bits


def _minmax(less_wins: bool):
    def make(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand], p: int) -> str:
        if len(sources) != 2:
            w.invalid(ins, f"{len(sources)} sources, expected 2")
        a, b = (_bits(w, s, p) for s in sources)
        va, vb = _value(w, a), _value(w, b)
        nan = _helper(w, "d_isnan")
        # D3D: a NaN operand gives the other one; the chosen operand's bits, unchanged
        pick_a = f"({va} < {vb})" if less_wins else f"({va} > {vb})"
        bits = w.tmp(f"select(select({b}, {a}, {pick_a} || {nan}({b})), {b}, {nan}({a}))", "vec2<u32>")
        if ins.saturate:
            w.unsupported(ins, "_sat")
        return bits
    return make


def _dmovc(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand], p: int) -> str:
    if len(sources) != 3:
        w.invalid(ins, f"{len(sources)} sources, expected 3")
    cond_op, a_op, b_op = sources
    if cond_op.type == _T.IMMEDIATE64:
        w.invalid(ins, "a 64-bit immediate as dmovc's condition")
    comps = w._source_components(cond_op, 4)
    c = w.tmp(w.read(cond_op, "u32", [comps[2 * p]]), "u32")
    a, b = _bits(w, a_op, p), _bits(w, b_op, p)
    bits = w.tmp(f"select({b}, {a}, {c} != 0u)", "vec2<u32>")
    if ins.saturate:
        w.unsupported(ins, "_sat")
    return bits


def _from_32(kind: str, convert: str):
    """ftod / itod / utod: the double at pair p from 32-bit source component swizzle[p]."""
    def make(w: "Writer", ins: ir.Instruction, sources: list[ir.Operand], p: int) -> str:
        if len(sources) != 1:
            w.invalid(ins, f"{len(sources)} sources, expected 1")
        op = sources[0]
        comps = w._source_components(op, 4)
        x = w.tmp(w.read(op, kind, [comps[p]]), kind)
        value = w.tmp(convert.format(x), "f64")
        return w.tmp(f"{_helper(w, 'd_bits')}({value})", "vec2<u32>")
    return make


def _to_32(kind: str, make_expr):
    """dtof / dtoi / dtou / comparisons: written component k from source double(s) k."""
    def handle(w: "Writer", ins: ir.Instruction) -> None:
        _require(w, ins)
        dst, *sources = ins.operands
        if dst.type == _T.NULL:
            return
        comps = [c for c in range(4) if dst.mask >> c & 1] if dst.components == 4 else [0]
        if not 1 <= len(comps) <= 2:
            w.invalid(ins, "a 32-bit result of doubles writes one or two components")
        values = []
        for k in range(len(comps)):
            bits = [_bits(w, s, k) for s in sources]
            values.append(w.tmp(make_expr(w, bits), kind))
        packed = values[0] if len(values) == 1 else f"vec2<{kind}>({', '.join(values)})"
        w.dst_packed(dst, packed, kind, saturate=ins.saturate)
    return handle


def _compare(op: str):
    def expr(w: "Writer", bits: list[str]) -> str:
        if len(bits) != 2:
            w.invalid(w.ins, f"{len(bits)} sources, expected 2")
        a, b = (_value(w, x) for x in bits)
        test = f"!({a} == {b})" if op == "!=" else f"({a} {op} {b})"
        return f"select(0u, 0xffffffffu, {test})"
    return expr


def _dtof(w: "Writer", bits: list[str]) -> str:
    return f"f32({_value(w, bits[0])})"


def _dtoi(w: "Writer", bits: list[str]) -> str:
    """Toward zero; NaN -> 0; out of range clamps."""
    x = _value(w, bits[0])
    nan = f"{_helper(w, 'd_isnan')}({bits[0]})"
    clamped = w.tmp(f"clamp({x}, -2147483648.0lf, 2147483647.0lf)", "f64")
    return f"select(i32({clamped}), 0i, {nan})"


def _dtou(w: "Writer", bits: list[str]) -> str:
    """Toward zero; NaN -> 0; out of range clamps (negative -> 0)."""
    x = _value(w, bits[0])
    nan = f"{_helper(w, 'd_isnan')}({bits[0]})"
    clamped = w.tmp(f"clamp({x}, 0.0lf, 4294967295.0lf)", "f64")
    return f"select(u32({clamped}), 0u, {nan})"


HANDLERS = {
    "dmov": _double_op(_dmov),
    "dadd": _double_op(_arith("({0} + {1})", 2)),
    "dmul": _double_op(_arith("({0} * {1})", 2)),
    "ddiv": _double_op(_arith("({0} / {1})", 2)),
    "dfma": _double_op(_arith("fma({0}, {1}, {2})", 3)),
    "drcp": _double_op(_arith("(1.0lf / {0})", 1)),
    "dmin": _double_op(_minmax(less_wins=True)),
    "dmax": _double_op(_minmax(less_wins=False)),
    "dmovc": _double_op(_dmovc),
    "ftod": _double_op(_from_32("f32", "f64({0})")),
    "itod": _double_op(_from_32("i32", "f64({0})")),
    "utod": _double_op(_from_32("u32", "f64({0})")),
    "deq": _to_32("u32", _compare("==")),
    "dne": _to_32("u32", _compare("!=")),
    "dlt": _to_32("u32", _compare("<")),
    "dge": _to_32("u32", _compare(">=")),
    "dtof": _to_32("f32", _dtof),
    "dtoi": _to_32("i32", _dtoi),
    "dtou": _to_32("u32", _dtou),
}
