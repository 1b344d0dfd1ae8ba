"""The WGSL writer's core: module assembly, the register model, operand reads and writes,
temporaries, helpers and the dispatch of instructions to their handlers.

Register model: every D3D register is typeless 32-bit, so every register file is
`vec4<u32>` bits at module scope (`var<private>`, so that a `ret` anywhere can return from the
function that holds the program body); each instruction bitcasts its sources to the type it
works in and its result back to bits. An immediate's bits are written as they are.

Handlers live in alu.py, flow.py, interface.py, resources.py and doubles.py (each a `HANDLERS` dict of
instruction name -> `fn(writer, instruction)`); this module merges them.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from .. import ir
from ..errors import ShaderInvalid, ShaderUnsupported
from ..specialization import DEFAULT, Specialization

if TYPE_CHECKING:
    from ..translate import DxbcShader

Handler = Callable[["Writer", ir.Instruction], None]
KINDS = ("f32", "u32", "i32")
COMPONENTS = "xyzw"
#: Flow-control nesting (if/loop/switch) the writer accepts; D3D11's own limit is 64.
MAX_NESTING = 64
#: Iterations of all loops together one invocation may run before every loop breaks out:
#: a translated shader must not be able to hang the host's GPU.
LOOP_BUDGET = 1 << 16
#: Registers of one file (temps, inputs, ...) a declaration may ask for (D3D11: 4096 temps).
MAX_REGISTERS = 4096
#: Lines of WGSL one translation may produce.
MAX_LINES = 200_000
#: Bytes of WGSL one translation may produce: past it the shader is refused (ShaderUnsupported)
#: rather than handed to wgpu, whose compile time grows with the module (a 1 MB blob of adds
#: gave 3.6 MB of WGSL that took wgpu minutes). The largest module of the DirectXTK and vkd3d
#: corpora is 24 KB.
MAX_WGSL_BYTES = 1 << 20
#: Float32 denormals ([FP32] of D3D11's floating-point rules): "flushed to sign-preserved zero
#: on input and output of any floating-point mathematical operation", data movement excepted.
#: WGSL (and lavapipe) keep denormals, so these instructions read their f32 sources through
#: `ftz{n}` (immediates are flushed here, at translation) ...
FLUSH_SOURCES = frozenset((
    "add", "mul", "div", "mad", "sqrt", "rsq", "rcp", "exp", "log", "frc", "round_ne", "round_ni",
    "round_pi", "round_z", "dp2", "dp3", "dp4", "sincos", "eq", "ne", "lt", "ge", "ftod",
    "deriv_rtx", "deriv_rty", "deriv_rtx_coarse", "deriv_rty_coarse", "deriv_rtx_fine", "deriv_rty_fine"))
#: ... and these write their f32 result through it: the operations whose result may be a
#: denormal when no source is one (sqrt, rsq, log, frc, round_*, sin/cos of flushed sources
#: never give one; _sat results go through `saturate{n}`, which flushes). Left out on purpose:
#: min/max (a denormal compares as the zero of its sign and "the result may or may not be
#: flushed": the unflushed pick is always one of the allowed answers), ftoi/ftou/f32tof16
#: (a denormal and the zero of its sign convert to the same bits), mov/movc/swapc (moves).
FLUSH_RESULTS = frozenset((
    "add", "mul", "div", "mad", "rcp", "exp", "dp2", "dp3", "dp4", "dtof",
    "deriv_rtx", "deriv_rty", "deriv_rtx_coarse", "deriv_rty_coarse", "deriv_rtx_fine", "deriv_rty_fine"))
_HANDLER_MODULES = ("alu", "flow", "interface", "resources", "doubles")

_U = ir.OperandType


def _load_handlers() -> dict[str, Handler]:
    merged: dict[str, Handler] = {}
    for name in _HANDLER_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        merged.update(module.HANDLERS)
    return merged


_handlers: dict[str, Handler] | None = None


def handlers() -> dict[str, Handler]:
    global _handlers
    if _handlers is None:
        _handlers = _load_handlers()
    return _handlers


def vec(kind: str, n: int) -> str:
    """The WGSL type of `n` components of `kind` (a scalar when n == 1)."""
    return kind if n == 1 else f"vec{n}<{kind}>"


def mask_components(mask: int) -> list[int]:
    return [c for c in range(4) if mask >> c & 1]


def swizzle_text(components: list[int] | tuple[int, ...]) -> str:
    return "".join(COMPONENTS[c] for c in components)


def f32_literal(bits: int) -> str:
    """A WGSL f32 expression with exactly these bits. Non-finite values and subnormals are
    bitcast (naga's constant evaluator refuses non-finite literals)."""
    bits &= 0xFFFFFFFF
    exponent = bits >> 23 & 0xFF
    if bits == 0:
        return "0.0f"
    if exponent == 0 or exponent == 0xFF:
        return f"bitcast<f32>({bits:#010x}u)"
    value = struct.unpack("<f", struct.pack("<I", bits))[0]
    text = repr(value)
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def u32_literal(bits: int) -> str:
    bits &= 0xFFFFFFFF
    return f"{bits}u" if bits < 0x10000 else f"{bits:#010x}u"


def i32_literal(bits: int) -> str:
    bits &= 0xFFFFFFFF
    if bits < 0x80000000:
        return f"{bits}i"
    if bits == 0x80000000:
        return "bitcast<i32>(0x80000000u)"
    return f"-{0x100000000 - bits}i"


LITERALS = {"f32": f32_literal, "u32": u32_literal, "i32": i32_literal}


def apply_modifier(expr: str, kind: str, modifier: ir.Modifier, n: int) -> str:
    """NEG/ABS on a value of `kind`: float negate/abs for f32, two's complement for integers."""
    if modifier & ir.Modifier.ABS:
        if kind == "u32":
            expr = f"bitcast<{vec('u32', n)}>(abs(bitcast<{vec('i32', n)}>({expr})))"
        else:
            expr = f"abs({expr})"
    if modifier & ir.Modifier.NEG:
        if kind == "u32":
            expr = f"(-bitcast<{vec('i32', n)}>({expr}))"
            expr = f"bitcast<{vec('u32', n)}>{expr}"
        else:
            expr = f"(-{expr})"
    return expr


class Writer:
    """Translates one decoded program to a WGSL module. Use `translate()` once."""

    def __init__(self, shader: "DxbcShader", spec: Specialization = DEFAULT):
        self.shader = shader
        self.blob: ir.ShaderBlob = shader.blob
        self.program: ir.Program = shader.program
        self.stage: ir.ProgramType = shader.stage
        self.spec = spec
        #: per-slot declaration facts (resources.py keeps its own entries here)
        self.decl: dict[str, Any] = {}
        self.instructions = self.program.instructions
        self.pc = 0
        self.ins: ir.Instruction | None = None
        self.depth = 0
        self.blocks: list[str] = []  # open flow-control blocks: "if", "else", "loop", "switch"
        self.calls: dict[int | None, set[int]] = {}  # function (None: main) -> labels it calls
        self.current_function: int | None = None
        self.temps = 0
        self.indexable: dict[int, tuple[int, int]] = {}  # x# -> (size, components)
        self.icb: tuple[int, ...] | None = None
        self.constant_buffers: dict[int, int] = {}
        self.input_registers: set[int] = set()
        self.output_registers: set[int] = set()
        self.special: dict[str, str] = {}  # private name -> its WGSL declaration (system values)
        self.functions: dict[int, list[str]] = {}  # label number -> its body lines
        self.uses_loop_budget = False
        self._globals: list[str] = []
        self._global_set: set[str] = set()
        self._helpers: dict[str, str] = {}
        self._lines: list[str] = []
        self._indent = 1
        self._tmp = 0
        self._tmp_types: dict[str, str] = {}
        self._count = 0
        self._bytes = 0
        self._nonconst = False
        self._flush_in = False  # the current instruction flushes its f32 sources (FLUSH_SOURCES)
        self._flush_out = False  # ... and its f32 result (FLUSH_RESULTS)
        self.entry: list[str] = []  # the entry point and its structs (interface.py)
        self.enables: set[str] = set()  # WGSL `enable` extensions the module needs

    # ----- emitting -----

    def line(self, text: str) -> None:
        self._lines.append("    " * self._indent + text)
        self._count += 1
        self._bytes += 4 * self._indent + len(text) + 1
        if self._count > MAX_LINES:
            self.unsupported(self.ins, f"the translation exceeds {MAX_LINES} lines")
        if self._bytes > MAX_WGSL_BYTES:
            self.unsupported(self.ins, f"the translation exceeds {MAX_WGSL_BYTES} bytes of WGSL")

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header + " {")
        self._indent += 1
        try:
            yield
        finally:
            self._indent -= 1
            self.line("}")

    def open(self, header: str) -> None:
        """Opens a block that a later instruction closes (`close`)."""
        self.line(header + " {")
        self._indent += 1

    def close(self, footer: str = "}") -> None:
        self._indent -= 1
        self.line(footer)

    def reopen(self) -> None:
        """After `close("} else {")`: the block goes on."""
        self._indent += 1

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Redirects emitted lines into the yielded list (a function body), at indent 1."""
        saved, saved_indent = self._lines, self._indent
        lines: list[str] = []
        self._lines, self._indent = lines, 1
        try:
            yield lines
        finally:
            self._lines, self._indent = saved, saved_indent

    def tmp(self, expr: str, wgsl_type: str) -> str:
        """A fresh `let` holding `expr` (of `wgsl_type`); returns its name."""
        self._tmp += 1
        name = f"tmp{self._tmp}"
        self.line(f"let {name}: {wgsl_type} = {expr};")
        self._tmp_types[name] = wgsl_type
        return name

    def var(self, expr: str, wgsl_type: str) -> str:
        """A fresh function-scope `var`."""
        self._tmp += 1
        name = f"tmp{self._tmp}"
        self.line(f"var {name}: {wgsl_type} = {expr};")
        return name

    def global_decl(self, text: str) -> None:
        if text not in self._global_set:
            self._global_set.add(text)
            self._globals.append(text)

    def helper(self, name: str, code: str) -> str:
        """Emits `code` (a function named `name`) once; returns `name`."""
        if name not in self._helpers:
            self._helpers[name] = code
        return name

    def require(self, feature: str, ins: ir.Instruction | None, what: str, enable: str | None = None) -> None:
        """Refuses `what` (naming `ins` and its offset) unless the host device has the wgpu
        `feature` (spec.features); with it, the module gets `enable <enable>;` if given."""
        if feature not in self.spec.features:
            self.unsupported(ins, f"{what} needs the host's wgpu feature {feature!r}, which it does not have")
        if enable:
            self.enables.add(enable)

    def unsupported(self, ins: ir.Instruction | None, what: str) -> NoReturn:
        """Raises ShaderUnsupported naming the instruction and its offset."""
        offset = ins.offset if ins is not None else None
        name = ins.name if ins is not None else "shader"
        raise ShaderUnsupported(f"{name}: {what}", offset)

    def invalid(self, ins: ir.Instruction | None, what: str) -> NoReturn:
        """Raises ShaderInvalid naming the instruction and its offset."""
        offset = ins.offset if ins is not None else None
        name = ins.name if ins is not None else "shader"
        raise ShaderInvalid(f"{name}: {what}", offset)

    @property
    def group(self) -> int:
        return {ir.ProgramType.VERTEX: 0, ir.ProgramType.PIXEL: 1, ir.ProgramType.COMPUTE: 2}[self.stage]

    # ----- registers -----

    def _index_value(self, index: ir.Index) -> str | int:
        """An index: an int when immediate, else a u32 WGSL expression (imm + relative)."""
        if index.relative is None:
            return index.immediate
        rel = self.src(index.relative, "u32", 1)
        if index.immediate:
            return f"({rel} + {u32_literal(index.immediate)})"
        return rel

    def _needs(self, op: ir.Operand, dims: int) -> None:
        if len(op.indices) != dims:
            self.invalid(self.ins, f"{op.type.name.lower()} operand has {len(op.indices)} index dimensions, "
                                   f"expected {dims}")

    def _register(self, op: ir.Operand, write: bool) -> tuple[str, str | None]:
        """(the vec4<u32> lvalue/rvalue of op's register, a bounds condition or None).

        An immediate register number is checked here (out of range: ShaderInvalid for files
        with fixed declarations); a dynamic one gives a condition the caller must honour."""
        t = op.type
        if t == _U.TEMP:
            self._needs(op, 1)
            n = self._static(op.indices[0], "temp")
            if n >= self.temps:
                self.invalid(self.ins, f"r{n} is past the {self.temps} declared temps")
            return f"r{n}", None
        if t == _U.INPUT:
            self._needs(op, 1)
            n = self._static(op.indices[0], "input")
            if n >= 32:
                self.invalid(self.ins, f"v{n} is out of range")
            self.input_registers.add(n)
            return f"v{n}", None
        if t == _U.OUTPUT:
            self._needs(op, 1)
            n = self._static(op.indices[0], "output")
            if n >= 32:
                self.invalid(self.ins, f"o{n} is out of range")
            self.output_registers.add(n)
            return f"o{n}", None
        if t == _U.INDEXABLE_TEMP:
            self._needs(op, 2)
            reg = self._static(op.indices[0], "indexable temp")
            if reg not in self.indexable:
                self.invalid(self.ins, f"x{reg} is not declared")
            size = self.indexable[reg][0]
            i = self._index_value(op.indices[1])
            if isinstance(i, int):
                if i >= size:
                    return ("" if write else "vec4<u32>()"), ("false" if write else None)
                return f"x{reg}[{i}]", None
            iv = self.tmp(i, "u32")
            return f"x{reg}[{iv}]", f"{iv} < {size}u"
        if t == _U.CONSTANT_BUFFER:
            if write:
                self.invalid(self.ins, "a constant buffer is not writable")
            self._needs(op, 2)
            slot = self._static(op.indices[0], "constant buffer")
            if slot not in self.constant_buffers:
                self.invalid(self.ins, f"cb{slot} is not declared")
            size = self.constant_buffers[slot]
            i = self._index_value(op.indices[1])
            if size == 0:
                return "vec4<u32>()", None
            if isinstance(i, int):
                return (f"cb{slot}[{i}]" if i < size else "vec4<u32>()"), None
            iv = self.tmp(i, "u32")
            return f"cb{slot}[min({iv}, {size - 1}u)]", f"{iv} < {size}u"
        if t == _U.IMMEDIATE_CONSTANT_BUFFER:
            if write:
                self.invalid(self.ins, "the immediate constant buffer is not writable")
            self._needs(op, 1)
            if self.icb is None:
                self.invalid(self.ins, "icb is read but no immediate constant buffer is declared")
            size = len(self.icb) // 4
            i = self._index_value(op.indices[0])
            if isinstance(i, int):
                return (f"icb[{i}]" if i < size else "vec4<u32>()"), None
            iv = self.tmp(i, "u32")
            return f"icb[min({iv}, {size - 1}u)]", f"{iv} < {size}u"
        name = SPECIAL_REGISTERS.get(t)
        if name is not None:
            if t not in self._special_ok():
                self.unsupported(self.ins, f"the {name} register is not available in a {self.stage.name.lower()} shader")
            self.special[name] = f"var<private> {name}: vec4<u32>;"
            return name, None
        self.unsupported(self.ins, f"operand type {t.name} is not supported here")

    def _relative_io(self, op: ir.Operand) -> bool:
        return (op.type in (_U.INPUT, _U.OUTPUT) and len(op.indices) == 1
                and op.indices[0].relative is not None)

    def _index_expr(self, index: ir.Index) -> str:
        value = self._index_value(index)
        return u32_literal(value) if isinstance(value, int) else value

    def _io_registers(self, op: ir.Operand) -> list[int]:
        """The registers a relative v[...]/o[...] may reach: those of the dcl_indexrange whose
        first register is the operand's immediate base (fxc writes `v[r1.x + base]`), else every
        register of the signature. Any other index reads 0 / writes nothing."""
        base = op.indices[0].immediate
        for kind, first, count in self.decl.get("index_ranges", ()):
            if kind == op.type and first == base:
                regs = [r for r in range(first, first + count) if r < 32]
                break
        else:
            elements = self.blob.inputs if op.type == _U.INPUT else self.blob.outputs
            regs = sorted({e.register for e in elements if e.register < 32})
        target = self.input_registers if op.type == _U.INPUT else self.output_registers
        target.update(regs)
        return regs

    def _io_reader(self, op: ir.Operand) -> str:
        """A function reading v[i] / o[i] over `_io_registers` (any other index reads 0)."""
        p = "v" if op.type == _U.INPUT else "o"
        regs = self._io_registers(op)
        name = f"read_{p}_{regs[0]}_{regs[-1]}" if regs else f"read_{p}_none"
        cases = "".join(f"        case {r}u: {{ return {p}{r}; }}\n" for r in regs)
        return self.helper(name, f"""fn {name}(i: u32) -> vec4<u32> {{
    switch i {{
{cases}        default: {{ return vec4<u32>(); }}
    }}
}}""")

    def _io_writer(self, op: ir.Operand) -> str:
        p = "v" if op.type == _U.INPUT else "o"
        regs = self._io_registers(op)
        name = f"write_{p}_{regs[0]}_{regs[-1]}" if regs else f"write_{p}_none"
        cases = "".join(f"        case {r}u: {{ {p}{r} = select({p}{r}, bits, mask); }}\n" for r in regs)
        return self.helper(name, f"""fn {name}(i: u32, bits: vec4<u32>, mask: vec4<bool>) {{
    switch i {{
{cases}        default: {{}}
    }}
}}""")

    def _special_ok(self) -> set[ir.OperandType]:
        if self.stage == ir.ProgramType.COMPUTE:
            return {_U.INPUT_THREAD_ID, _U.INPUT_THREAD_GROUP_ID, _U.INPUT_THREAD_ID_IN_GROUP,
                    _U.INPUT_THREAD_ID_IN_GROUP_FLATTENED}
        if self.stage == ir.ProgramType.PIXEL:
            return {_U.OUTPUT_DEPTH, _U.OUTPUT_DEPTH_GREATER_EQUAL, _U.OUTPUT_DEPTH_LESS_EQUAL,
                    _U.OUTPUT_COVERAGE_MASK, _U.INPUT_COVERAGE_MASK}
        return set()

    def _static(self, index: ir.Index, what: str) -> int:
        if index.relative is not None:
            self.unsupported(self.ins, f"relative indexing of a {what} register")
        if not 0 <= index.immediate < (1 << 32):
            self.invalid(self.ins, f"{what} register index {index.immediate} is out of range")
        return index.immediate

    def _immediate(self, op: ir.Operand, kind: str, comps: list[int]) -> str:
        values = op.values
        if op.type == _U.IMMEDIATE64:
            self.unsupported(self.ins, "64-bit immediates (doubles) are not supported")
        if len(values) not in (1, 4):
            self.invalid(self.ins, f"an immediate operand has {len(values)} values")
        picked = [values[c] if len(values) == 4 else values[0] for c in comps]
        if kind == "f32" and self._flush_in:
            picked = [b & 0x80000000 if b & 0x7F800000 == 0 else b for b in picked]
        if self._nonconst:
            # All sources are immediates: keep naga's constant evaluator from folding (it
            # refuses a non-finite or overflowing result that the GPU would just compute).
            self.global_decl("var<private> nonconst: u32;")
            bits = [f"({u32_literal(b)} | nonconst)" for b in picked]
            if len(bits) == 1:
                return bits[0] if kind == "u32" else f"bitcast<{kind}>({bits[0]})"
            body = f"vec{len(bits)}<u32>({', '.join(bits)})"
            return body if kind == "u32" else f"bitcast<{vec(kind, len(bits))}>({body})"
        lits = [LITERALS[kind](b) for b in picked]
        if len(lits) == 1:
            return lits[0]
        if all(x == lits[0] for x in lits):
            return f"{vec(kind, len(lits))}({lits[0]})"
        return f"{vec(kind, len(lits))}({', '.join(lits)})"

    def _source_components(self, op: ir.Operand, count: int) -> list[int]:
        if op.type in (_U.IMMEDIATE32, _U.IMMEDIATE64):
            return [0] * count if len(op.values) == 1 else list(range(count))
        if op.components == 1 or op.selection == ir.Selection.SELECT1:
            return [op.swizzle[0]] * count
        if op.selection == ir.Selection.MASK:
            comps = mask_components(op.mask) or [0]
            comps = comps + [comps[-1]] * 4
            return comps[:count]
        return list(op.swizzle[:count])

    def read(self, op: ir.Operand, kind: str, comps: list[int]) -> str:
        """op's components `comps` (register component numbers, after op's own swizzle is
        NOT applied) as `vec{len(comps)}<kind>`, modifiers applied. Internal building block."""
        n = len(comps)
        if op.type in (_U.IMMEDIATE32, _U.IMMEDIATE64):
            expr = self._immediate(op, kind, comps)
        elif self._relative_io(op):
            sw = swizzle_text(comps)
            bits = f"{self._io_reader(op)}({self._index_expr(op.indices[0])}).{sw}"
            expr = bits if kind == "u32" else f"bitcast<{vec(kind, n)}>({bits})"
        else:
            reg, cond = self._register(op, write=False)
            sw = swizzle_text(comps)
            bits = f"{reg}.{sw}" if sw != "xyzw" else reg
            if cond is not None:
                bits = f"select({vec('u32', n)}(), {bits}, {cond})"
            expr = bits if kind == "u32" else f"bitcast<{vec(kind, n)}>({bits})"
        if kind == "f32" and self._flush_in and op.type not in (_U.IMMEDIATE32, _U.IMMEDIATE64):
            expr = f"{self.ftz_helper(n)}({expr})"
        return apply_modifier(expr, kind, op.modifier, n)

    def src(self, op: ir.Operand, kind: str, count: int = 4) -> str:
        """The first `count` components of op's swizzle as `vec{count}<kind>` (a scalar when 1)."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}")
        if not 1 <= count <= 4:
            raise ValueError(f"count {count}")
        return self.read(op, kind, self._source_components(op, count))

    def src_masked(self, op: ir.Operand, kind: str, mask: int) -> str:
        """op's swizzle picked at the components of a destination mask, packed: what a
        component-wise instruction needs for a destination with that mask."""
        comps = self._source_components(op, 4)
        return self.read(op, kind, [comps[c] for c in mask_components(mask)])

    def dst_packed(self, op: ir.Operand, value: str, kind: str, saturate: bool = False) -> None:
        """Stores `value`, `vecK<kind>` with K = the components op's mask writes (packed, in
        order), into op's register."""
        if op.type == _U.NULL:
            return
        comps = mask_components(op.mask) if op.components == 4 else [0]
        if not comps:
            return
        n = len(comps)
        if saturate and kind == "f32":
            value = f"{self.sat_helper(n)}({value})"
        elif kind == "f32" and self._flush_out:
            value = f"{self.ftz_helper(n)}({value})"
        bits = value if kind == "u32" else f"bitcast<{vec('u32', n)}>({value})"
        if self._relative_io(op):
            t = self.tmp(bits, vec("u32", n))
            full = ", ".join((f"{t}.{COMPONENTS[comps.index(c)]}" if n > 1 else t) if c in comps else "0u"
                             for c in range(4))
            flags = ", ".join("true" if c in comps else "false" for c in range(4))
            self.line(f"{self._io_writer(op)}({self._index_expr(op.indices[0])}, vec4<u32>({full}), "
                      f"vec4<bool>({flags}));")
            return
        reg, cond = self._register(op, write=True)
        if cond == "false":
            return
        if n == 4:
            stmt = f"{reg} = {bits};"
        elif n == 1:
            stmt = f"{reg}.{COMPONENTS[comps[0]]} = {bits};"
        else:
            t = self.tmp(bits, vec("u32", n))
            parts = []
            for c in range(4):
                parts.append(f"{t}.{COMPONENTS[comps.index(c)]}" if c in comps else f"{reg}.{COMPONENTS[c]}")
            stmt = f"{reg} = vec4<u32>({', '.join(parts)});"
        if cond is not None:
            with self.block(f"if ({cond})"):
                self.line(stmt)
        else:
            self.line(stmt)

    def dst(self, op: ir.Operand, value: str, kind: str, saturate: bool = False) -> None:
        """Stores a 4-component (or scalar, then replicated) `kind` value into op's masked
        components: component c of the value goes to component c."""
        if op.type == _U.NULL:
            return
        comps = mask_components(op.mask) if op.components == 4 else [0]
        if not comps:
            return
        if self._tmp_types.get(value) == kind:
            self.dst_packed(op, value if len(comps) == 1 else f"{vec(kind, len(comps))}({value})", kind, saturate)
            return
        if len(comps) == 4:
            self.dst_packed(op, f"vec4<{kind}>({value})", kind, saturate)
            return
        t = self.tmp(f"vec4<{kind}>({value})", f"vec4<{kind}>")
        self.dst_packed(op, f"{t}.{swizzle_text(comps)}", kind, saturate)

    def sat_helper(self, n: int) -> str:
        """_sat: clamp to [0, 1], NaN -> 0, a denormal (flushed [FP32]) or a zero -> +0."""
        t = vec("f32", n)
        u = vec("u32", n)
        return self.helper(f"saturate{n}", f"""fn saturate{n}(x: {t}) -> {t} {{
    let b = bitcast<{u}>(x);
    let zero = ((b & {u}(0x7fffffffu)) > {u}(0x7f800000u)) | ((b & {u}(0x7f800000u)) == {u}(0u));
    return select(clamp(x, {t}(0.0), {t}(1.0)), {t}(0.0), zero);
}}""")

    def ftz_helper(self, n: int) -> str:
        """[FP32]: a float32 denormal becomes the zero of its sign (bits kept otherwise)."""
        t = vec("f32", n)
        u = vec("u32", n)
        return self.helper(f"ftz{n}", f"""fn ftz{n}(x: {t}) -> {t} {{
    let b = bitcast<{u}>(x);
    return select(x, bitcast<{t}>(b & {u}(0x80000000u)), (b & {u}(0x7f800000u)) == {u}(0u));
}}""")

    def isnan_helper(self, n: int) -> str:
        t = vec("f32", n)
        u = vec("u32", n)
        b = vec("bool", n)
        return self.helper(f"is_nan{n}", f"""fn is_nan{n}(x: {t}) -> {b} {{
    return (bitcast<{u}>(x) & {u}(0x7fffffffu)) > {u}(0x7f800000u);
}}""")

    # ----- the program -----

    def sources_all_immediate(self, ins: ir.Instruction) -> bool:
        """No source operand reads a register (then naga would fold the expression)."""
        sources = ins.operands[TWO_DESTINATIONS.get(ins.name, 1):]
        return bool(sources) and all(o.type in (_U.IMMEDIATE32, _U.IMMEDIATE64) for o in sources)

    def emit(self, ins: ir.Instruction) -> None:
        handler = handlers().get(ins.name)
        if handler is None:
            raise ShaderUnsupported(f"{ins.name} is not supported", ins.offset)
        prev = self.ins, self._nonconst, self._flush_in, self._flush_out
        self.ins = ins
        self._nonconst = ins.name not in ("mov", "movc", "swapc") and self.sources_all_immediate(ins)
        self._flush_in = ins.name in FLUSH_SOURCES
        self._flush_out = ins.name in FLUSH_RESULTS
        try:
            handler(self, ins)
        finally:
            self.ins, self._nonconst, self._flush_in, self._flush_out = prev

    def emit_range(self, start: int, end: int) -> None:
        """Emits instructions [start, end); a handler may move `self.pc` past what it consumed."""
        saved = self.pc
        self.pc = start
        while self.pc < end:
            ins = self.instructions[self.pc]
            self.pc += 1
            self.emit(ins)
        self.pc = saved

    def enter(self, ins: ir.Instruction) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.unsupported(ins, f"flow control nested deeper than {MAX_NESTING}")

    def leave(self) -> None:
        self.depth -= 1

    def translate(self) -> str:
        """Runs every instruction and assembles the module."""
        body_end = len(self.instructions)
        for i, ins in enumerate(self.instructions):
            if ins.name == "label":
                body_end = i
                break
        self.emit_range(0, body_end)
        if self.depth != 0 or self.blocks:
            self.invalid(None, "a flow-control block is not closed at the end of the program")
        main_lines = self._lines
        from . import flow
        flow.emit_functions(self, body_end)
        from . import interface
        interface.finish(self)
        return self.assemble(main_lines)

    def register_decls(self) -> list[str]:
        out = [f"var<private> r{i}: vec4<u32>;" for i in range(self.temps)]
        for reg, (size, _) in sorted(self.indexable.items()):
            out.append(f"var<private> x{reg}: array<vec4<u32>, {size}>;")
        out += [f"var<private> v{i}: vec4<u32>;" for i in sorted(self.input_registers)]
        out += [f"var<private> o{i}: vec4<u32>;" for i in sorted(self.output_registers)]
        out += [self.special[k] for k in sorted(self.special)]
        if self.uses_loop_budget:
            out.append(f"var<private> loop_budget: u32 = {LOOP_BUDGET}u;")
        return out

    def assemble(self, main_lines: list[str]) -> str:
        parts = [f"enable {e};" for e in sorted(self.enables)]
        parts += ["diagnostic(off, derivative_uniformity);", ""]
        parts += self._globals
        if self.icb is not None:
            size = len(self.icb) // 4
            rows = ", ".join("vec4<u32>(" + ", ".join(u32_literal(v) for v in self.icb[i * 4:i * 4 + 4]) + ")"
                             for i in range(size))
            parts.append(f"var<private> icb: array<vec4<u32>, {size}> = array<vec4<u32>, {size}>({rows});")
        parts += self.register_decls()
        parts.append("")
        for code in self._helpers.values():
            parts += [code, ""]
        for label, lines in sorted(self.functions.items()):
            parts += [f"fn label{label}() {{", *lines, "}", ""]
        parts += ["fn shader_main() {", *main_lines, "}", ""]
        parts += self.entry
        text = "\n".join(parts) + "\n"
        if len(text) > MAX_WGSL_BYTES:
            self.unsupported(None, f"the translation exceeds {MAX_WGSL_BYTES} bytes of WGSL")
        return text


#: Instructions with two destination operands (the others have one).
TWO_DESTINATIONS = {name: 2 for name in ("udiv", "umul", "imul", "uaddc", "usubb", "swapc", "sincos")}

SPECIAL_REGISTERS: dict[ir.OperandType, str] = {
    _U.INPUT_THREAD_ID: "vThreadID",
    _U.INPUT_THREAD_GROUP_ID: "vThreadGroupID",
    _U.INPUT_THREAD_ID_IN_GROUP: "vThreadIDInGroup",
    _U.INPUT_THREAD_ID_IN_GROUP_FLATTENED: "vThreadIDInGroupFlattened",
    _U.INPUT_COVERAGE_MASK: "vCoverage",
    _U.OUTPUT_DEPTH: "oDepth",
    _U.OUTPUT_DEPTH_GREATER_EQUAL: "oDepthGE",
    _U.OUTPUT_DEPTH_LESS_EQUAL: "oDepthLE",
    _U.OUTPUT_COVERAGE_MASK: "oMask",
}


def translate_program(shader: "DxbcShader", spec: Specialization = DEFAULT) -> str:
    return Writer(shader, spec).translate()
