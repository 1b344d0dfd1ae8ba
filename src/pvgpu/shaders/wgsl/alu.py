"""Arithmetic, logic, conversion and bit instructions: D3D11's rules, one table.

Component-wise instructions read each source at the destination's mask (D3D: destination
component c takes component swizzle[c] of each source) and compute only the written
components. Where WGSL leaves a result undefined or differs from D3D11 (NaN in min/max and
comparisons, out-of-range float-to-int, division by zero, shift amounts, saturate of NaN), a
small helper gives D3D's answer.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import ir
from .writer import Writer, mask_components, vec

Expr = Callable[[list[str], int, Writer], str]


def _dst_mask(op: ir.Operand) -> int:
    if op.type == ir.OperandType.NULL:
        return 0
    return op.mask if op.components == 4 else 1


def _splat(kind: str, n: int, literal: str) -> str:
    return literal if n == 1 else f"{vec(kind, n)}({literal})"


def _helper(w: Writer, name: str, n: int, params: str, ret: str, body: str) -> str:
    """A helper instantiated for width n: `T`/`U`/`I`/`B` in the text are the f32/u32/i32/bool
    types of that width."""
    full = f"{name}{n}"
    subs = {"T": vec("f32", n), "U": vec("u32", n), "I": vec("i32", n), "B": vec("bool", n)}

    def fill(text: str) -> str:
        for k, v in subs.items():
            text = text.replace(f"{{{k}}}", v)
        return text
    return w.helper(full, f"fn {full}({fill(params)}) -> {fill(ret)} {{\n{fill(body)}\n}}")


def componentwise(kind_in: str | tuple[str, ...], kind_out: str, expr: Expr) -> Callable[[Writer, ir.Instruction], None]:
    """A handler for `op dst, src...` computed per written component."""
    def handle(w: Writer, ins: ir.Instruction) -> None:
        d, *srcs = ins.operands
        mask = _dst_mask(d)
        if not mask:
            return
        n = len(mask_components(mask))
        kinds = kind_in if isinstance(kind_in, tuple) else (kind_in,) * len(srcs)
        if len(kinds) != len(srcs):
            w.invalid(ins, f"expected {len(kinds)} source operands, found {len(srcs)}")
        args = [w.src_masked(s, k, mask) for s, k in zip(srcs, kinds)]
        w.dst_packed(d, expr(args, n, w), kind_out, ins.saturate)
    return handle


def _bool_to_mask(cond: str, n: int) -> str:
    return f"select({_splat('u32', n, '0u')}, {_splat('u32', n, '0xffffffffu')}, {cond})"


def compare(op: str, kind: str) -> Callable[[Writer, ir.Instruction], None]:
    if op == "!=":
        return componentwise(kind, "u32", lambda a, n, w: _bool_to_mask(f"!({a[0]} == {a[1]})", n))
    return componentwise(kind, "u32", lambda a, n, w: _bool_to_mask(f"{a[0]} {op} {a[1]}", n))


def binary(op: str, kind: str) -> Callable[[Writer, ir.Instruction], None]:
    return componentwise(kind, kind, lambda a, n, w: f"({a[0]} {op} {a[1]})")


def call(fn: str, kind: str, kind_out: str | None = None) -> Callable[[Writer, ir.Instruction], None]:
    return componentwise(kind, kind_out or kind, lambda a, n, w: f"{fn}({', '.join(a)})")


def _shift(op: str, kind: str) -> Callable[[Writer, ir.Instruction], None]:
    return componentwise((kind, "u32"), kind,
                         lambda a, n, w: f"({a[0]} {op} ({a[1]} & {_splat('u32', n, '31u')}))")


def _minmax(which: str) -> Expr:
    def expr(a: list[str], n: int, w: Writer) -> str:
        nan = w.isnan_helper(n)
        name = _helper(w, f"d3d_{which}", n, "a: {T}, b: {T}", "{T}",
                       f"    return select(select({which}(a, b), a, {nan}(b)), b, {nan}(a));")
        return f"{name}({a[0]}, {a[1]})"
    return expr


def _rcp(a: list[str], n: int, w: Writer) -> str:
    return f"({_splat('f32', n, '1.0f')} / {a[0]})"


def _frc(a: list[str], n: int, w: Writer) -> str:
    return f"fract({a[0]})"


def _ftoi(a: list[str], n: int, w: Writer) -> str:
    nan = w.isnan_helper(n)
    name = _helper(w, "d3d_ftoi", n, "x: {T}", "{I}",
                   "    let c = select({I}(x), {I}(2147483647i), x >= {T}(2147483648.0f));\n"
                   "    let d = select(c, {I}(bitcast<i32>(0x80000000u)), x <= {T}(-2147483648.0f));\n"
                   f"    return select(d, {{I}}(0i), {nan}(x));")
    return f"{name}({a[0]})"


def _ftou(a: list[str], n: int, w: Writer) -> str:
    nan = w.isnan_helper(n)
    name = _helper(w, "d3d_ftou", n, "x: {T}", "{U}",
                   "    let c = select({U}(max(x, {T}(0.0f))), {U}(0xffffffffu), x >= {T}(4294967296.0f));\n"
                   f"    return select(select(c, {{U}}(0u), x <= {{T}}(0.0f)), {{U}}(0u), {nan}(x));")
    return f"{name}({a[0]})"


def _firstbit_hi(signed: bool) -> Expr:
    def expr(a: list[str], n: int, w: Writer) -> str:
        fn = "firstLeadingBit(bitcast<{I}>(x))" if signed else "firstLeadingBit(x)"
        conv = "bitcast<{U}>(" + fn + ")" if signed else fn
        name = _helper(w, "d3d_firstbit_shi" if signed else "d3d_firstbit_hi", n, "x: {U}", "{U}",
                       f"    let b = {conv};\n"
                       "    return select({U}(31u) - b, b, b == {U}(0xffffffffu));")
        return f"{name}({a[0]})"
    return expr


def _bind(w: Writer, args: list[str], kinds: tuple[str, ...], n: int) -> list[str]:
    return [w.tmp(x, vec(k, n)) for x, k in zip(args, kinds)]


def bitfield_extract(kind: str) -> Callable[[Writer, ir.Instruction], None]:
    def handle(w: Writer, ins: ir.Instruction) -> None:
        d, width, offset, value = ins.operands
        mask = _dst_mask(d)
        if not mask:
            return
        n = len(mask_components(mask))
        wv, ov, vv = _bind(w, [w.src_masked(width, "u32", mask), w.src_masked(offset, "u32", mask),
                               w.src_masked(value, kind, mask)], ("u32", "u32", kind), n)
        if n == 1:
            res = f"extractBits({vv}, {ov} & 31u, {wv} & 31u)"
        else:
            res = f"{vec(kind, n)}(" + ", ".join(
                f"extractBits({vv}.{c}, {ov}.{c} & 31u, {wv}.{c} & 31u)" for c in "xyzw"[:n]) + ")"
        w.dst_packed(d, res, kind)
    return handle


def bfi(w: Writer, ins: ir.Instruction) -> None:
    d, width, offset, insert, base = ins.operands
    mask = _dst_mask(d)
    if not mask:
        return
    n = len(mask_components(mask))
    wv, ov, iv, bv = _bind(w, [w.src_masked(o, "u32", mask) for o in (width, offset, insert, base)],
                           ("u32",) * 4, n)
    if n == 1:
        res = f"insertBits({bv}, {iv}, {ov} & 31u, {wv} & 31u)"
    else:
        res = "vec{}<u32>(".format(n) + ", ".join(
            f"insertBits({bv}.{c}, {iv}.{c}, {ov}.{c} & 31u, {wv}.{c} & 31u)" for c in "xyzw"[:n]) + ")"
    w.dst_packed(d, res, "u32")


def _scalarwise(kind_in: str, kind_out: str, fn: Callable[[str], str]) -> Callable[[Writer, ir.Instruction], None]:
    """A component-wise instruction whose WGSL form works on scalars only."""
    def handle(w: Writer, ins: ir.Instruction) -> None:
        d, s = ins.operands
        mask = _dst_mask(d)
        if not mask:
            return
        n = len(mask_components(mask))
        x = w.src_masked(s, kind_in, mask)
        if n == 1:
            w.dst_packed(d, fn(x), kind_out, ins.saturate)
            return
        t = w.tmp(x, vec(kind_in, n))
        w.dst_packed(d, f"{vec(kind_out, n)}(" + ", ".join(fn(f"{t}.{c}") for c in "xyzw"[:n]) + ")",
                     kind_out, ins.saturate)
    return handle


def dot(k: int) -> Callable[[Writer, ir.Instruction], None]:
    def handle(w: Writer, ins: ir.Instruction) -> None:
        d, a, b = ins.operands
        if not _dst_mask(d):
            return
        x, y = w.src(a, "f32", k), w.src(b, "f32", k)
        value = w.tmp(f"dot({x}, {y})", "f32")
        w.dst(d, value, "f32", ins.saturate)
    return handle


def _untyped_kind(ins: ir.Instruction, srcs: tuple[ir.Operand, ...]) -> str:
    """mov/movc/swapc move bits unless a float modifier or saturate asks for a float."""
    if ins.saturate or any(s.modifier for s in srcs):
        return "f32"
    return "u32"


def mov(w: Writer, ins: ir.Instruction) -> None:
    d, s = ins.operands
    mask = _dst_mask(d)
    if not mask:
        return
    kind = _untyped_kind(ins, (s,))
    w.dst_packed(d, w.src_masked(s, kind, mask), kind, ins.saturate)


def movc(w: Writer, ins: ir.Instruction) -> None:
    d, c, a, b = ins.operands
    mask = _dst_mask(d)
    if not mask:
        return
    n = len(mask_components(mask))
    kind = _untyped_kind(ins, (a, b))
    cond = w.src_masked(c, "u32", mask)
    w.dst_packed(d, f"select({w.src_masked(b, kind, mask)}, {w.src_masked(a, kind, mask)}, "
                    f"{cond} != {_splat('u32', n, '0u')})", kind, ins.saturate)


def swapc(w: Writer, ins: ir.Instruction) -> None:
    d0, d1, c, a, b = ins.operands
    kind = _untyped_kind(ins, (a, b))
    cond = w.tmp(f"{w.src(c, 'u32')} != vec4<u32>(0u)", "vec4<bool>")
    av = w.tmp(w.src(a, kind), vec(kind, 4))
    bv = w.tmp(w.src(b, kind), vec(kind, 4))
    w.dst(d0, f"select({av}, {bv}, {cond})", kind)
    w.dst(d1, f"select({bv}, {av}, {cond})", kind)


def sincos(w: Writer, ins: ir.Instruction) -> None:
    ds, dc, s = ins.operands
    values = {}
    for d, fn in ((ds, "sin"), (dc, "cos")):
        mask = _dst_mask(d)
        if mask:
            values[fn] = (d, mask)
    # both read the source before either is written (the source may be a destination)
    reads = {fn: w.tmp(w.src_masked(s, "f32", mask), vec("f32", len(mask_components(mask))))
             for fn, (d, mask) in values.items()}
    for fn, (d, mask) in values.items():
        w.dst_packed(d, f"{fn}({reads[fn]})", "f32", ins.saturate)


def _two_results(compute: Callable[[Writer, list[str], int], tuple[str, str]], kinds: tuple[str, ...],
                 kind_out: str = "u32") -> Callable[[Writer, ir.Instruction], None]:
    """`op dst0, dst1, a, b`: both results per component, computed over all four components
    so that each destination takes its own mask."""
    def handle(w: Writer, ins: ir.Instruction) -> None:
        d0, d1, *srcs = ins.operands
        args = [w.tmp(w.src(s, k), vec(k, 4)) for s, k in zip(srcs, kinds)]
        r0, r1 = compute(w, args, 4)
        v0 = w.tmp(r0, vec(kind_out, 4)) if _dst_mask(d0) else None
        v1 = w.tmp(r1, vec(kind_out, 4)) if _dst_mask(d1) else None
        if v0:
            w.dst(d0, v0, kind_out)
        if v1:
            w.dst(d1, v1, kind_out)
    return handle


def _udiv(w: Writer, a: list[str], n: int) -> tuple[str, str]:
    zero = f"{a[1]} == {_splat('u32', n, '0u')}"
    safe = f"select({a[1]}, {_splat('u32', n, '1u')}, {zero})"
    ones = _splat("u32", n, "0xffffffffu")
    return (f"select({a[0]} / {safe}, {ones}, {zero})", f"select({a[0]} % {safe}, {ones}, {zero})")


def _mul_hi_helper(w: Writer) -> str:
    return w.helper("umul_hi", """fn umul_hi(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    let m = vec4<u32>(0xffffu);
    let a0 = a & m;
    let a1 = a >> vec4<u32>(16u);
    let b0 = b & m;
    let b1 = b >> vec4<u32>(16u);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> vec4<u32>(16u)) + (p01 & m) + (p10 & m);
    return a1 * b1 + (p01 >> vec4<u32>(16u)) + (p10 >> vec4<u32>(16u)) + (mid >> vec4<u32>(16u));
}""")


def _umul(w: Writer, a: list[str], n: int) -> tuple[str, str]:
    return f"{_mul_hi_helper(w)}({a[0]}, {a[1]})", f"({a[0]} * {a[1]})"


def _imul(w: Writer, a: list[str], n: int) -> tuple[str, str]:
    hi = _mul_hi_helper(w)
    name = w.helper("imul_hi", f"""fn imul_hi(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {{
    let neg_a = (a >> vec4<u32>(31u)) != vec4<u32>(0u);
    let neg_b = (b >> vec4<u32>(31u)) != vec4<u32>(0u);
    return {hi}(a, b) - select(vec4<u32>(0u), b, neg_a) - select(vec4<u32>(0u), a, neg_b);
}}""")
    return f"{name}({a[0]}, {a[1]})", f"({a[0]} * {a[1]})"


def _uaddc(w: Writer, a: list[str], n: int) -> tuple[str, str]:
    s = w.tmp(f"{a[0]} + {a[1]}", "vec4<u32>")
    return s, f"select(vec4<u32>(0u), vec4<u32>(1u), {s} < {a[0]})"


def _usubb(w: Writer, a: list[str], n: int) -> tuple[str, str]:
    return f"{a[0]} - {a[1]}", f"select(vec4<u32>(0u), vec4<u32>(1u), {a[0]} < {a[1]})"


def _deriv(fn: str) -> Callable[[Writer, ir.Instruction], None]:
    inner = call(fn, "f32")

    def handle(w: Writer, ins: ir.Instruction) -> None:
        if w.stage != ir.ProgramType.PIXEL:
            w.unsupported(ins, "derivatives exist in pixel shaders only")
        inner(w, ins)
    return handle


def _coarse(axis: str) -> Callable[[Writer, ir.Instruction], None]:
    """deriv_rtx_coarse / deriv_rty_coarse: D3D computes them "only once per 2x2 quad", while
    WGSL's dpdxCoarse/dpdyCoarse may be per row/column (lavapipe's are). Built from fine
    derivatives, exactly: the x derivative of the quad's top row, fx = dpdxFine(v) there; the
    bottom row reads it as -dpdyFine(t) with t = fx on the top row and 0 on the bottom row
    (0 - fx_top: exact, unlike fx_bottom - (fx_bottom - fx_top)). The row (for y: the column)
    comes from the fragment position's parity (interface.py adds the position builtin)."""
    along, across = ("dpdxFine", "dpdyFine") if axis == "x" else ("dpdyFine", "dpdxFine")
    parity = "frag_quad.y" if axis == "x" else "frag_quad.x"

    def handle(w: Writer, ins: ir.Instruction) -> None:
        if w.stage != ir.ProgramType.PIXEL:
            w.unsupported(ins, "derivatives exist in pixel shaders only")
        d, s = ins.operands
        mask = _dst_mask(d)
        if not mask:
            return
        n = len(mask_components(mask))
        w.special["frag_quad"] = "var<private> frag_quad: vec2<bool>;"
        t = vec("f32", n)
        f = w.tmp(f"{along}({w.src_masked(s, 'f32', mask)})", t)
        first = w.tmp(f"select({f}, {t}(0.0f), {parity})", t)
        w.dst_packed(d, f"select({f}, -{across}({first}), {parity})", "f32", ins.saturate)
    return handle


def nop(w: Writer, ins: ir.Instruction) -> None:
    return None


def _f16tof32(x: str) -> str:
    return f"unpack2x16float({x} & 0xffffu).x"


def _f32tof16(x: str) -> str:
    return f"(pack2x16float(vec2<f32>({x}, 0.0f)) & 0xffffu)"


HANDLERS = {
    "nop": nop,
    "mov": mov,
    "movc": movc,
    "swapc": swapc,
    # float
    "add": binary("+", "f32"),
    "mul": binary("*", "f32"),
    "div": binary("/", "f32"),
    "mad": componentwise("f32", "f32", lambda a, n, w: f"({a[0]} * {a[1]} + {a[2]})"),
    "min": componentwise("f32", "f32", _minmax("min")),
    "max": componentwise("f32", "f32", _minmax("max")),
    "sqrt": call("sqrt", "f32"),
    "rsq": call("inverseSqrt", "f32"),
    "rcp": componentwise("f32", "f32", _rcp),
    "exp": call("exp2", "f32"),
    "log": call("log2", "f32"),
    "frc": componentwise("f32", "f32", _frc),
    "round_ne": call("round", "f32"),
    "round_ni": call("floor", "f32"),
    "round_pi": call("ceil", "f32"),
    "round_z": call("trunc", "f32"),
    "dp2": dot(2),
    "dp3": dot(3),
    "dp4": dot(4),
    "sincos": sincos,
    "eq": compare("==", "f32"),
    "ne": compare("!=", "f32"),
    "lt": compare("<", "f32"),
    "ge": compare(">=", "f32"),
    "deriv_rtx": _deriv("dpdx"),
    "deriv_rty": _deriv("dpdy"),
    "deriv_rtx_coarse": _coarse("x"),
    "deriv_rty_coarse": _coarse("y"),
    "deriv_rtx_fine": _deriv("dpdxFine"),
    "deriv_rty_fine": _deriv("dpdyFine"),
    # conversions
    "itof": componentwise("i32", "f32", lambda a, n, w: f"{vec('f32', n)}({a[0]})"),
    "utof": componentwise("u32", "f32", lambda a, n, w: f"{vec('f32', n)}({a[0]})"),
    "ftoi": componentwise("f32", "i32", _ftoi),
    "ftou": componentwise("f32", "u32", _ftou),
    "f16tof32": _scalarwise("u32", "f32", _f16tof32),
    "f32tof16": _scalarwise("f32", "u32", _f32tof16),
    # integer
    "iadd": binary("+", "u32"),
    "ineg": componentwise("i32", "i32", lambda a, n, w: f"(-{a[0]})"),
    "imad": componentwise("u32", "u32", lambda a, n, w: f"({a[0]} * {a[1]} + {a[2]})"),
    "umad": componentwise("u32", "u32", lambda a, n, w: f"({a[0]} * {a[1]} + {a[2]})"),
    "imin": call("min", "i32"),
    "imax": call("max", "i32"),
    "umin": call("min", "u32"),
    "umax": call("max", "u32"),
    "ishl": _shift("<<", "u32"),
    "ishr": _shift(">>", "i32"),
    "ushr": _shift(">>", "u32"),
    "and": binary("&", "u32"),
    "or": binary("|", "u32"),
    "xor": binary("^", "u32"),
    "not": componentwise("u32", "u32", lambda a, n, w: f"(~{a[0]})"),
    "ieq": compare("==", "u32"),
    "ine": compare("!=", "u32"),
    "ige": compare(">=", "i32"),
    "ilt": compare("<", "i32"),
    "uge": compare(">=", "u32"),
    "ult": compare("<", "u32"),
    "udiv": _two_results(_udiv, ("u32", "u32")),
    "umul": _two_results(_umul, ("u32", "u32")),
    "imul": _two_results(_imul, ("u32", "u32")),
    "uaddc": _two_results(_uaddc, ("u32", "u32")),
    "usubb": _two_results(_usubb, ("u32", "u32")),
    # bits
    "ubfe": bitfield_extract("u32"),
    "ibfe": bitfield_extract("i32"),
    "bfi": bfi,
    "countbits": call("countOneBits", "u32"),
    "firstbit_hi": componentwise("u32", "u32", _firstbit_hi(False)),
    "firstbit_shi": componentwise("u32", "u32", _firstbit_hi(True)),
    "firstbit_lo": call("firstTrailingBit", "u32"),
    "bfrev": call("reverseBits", "u32"),
}
