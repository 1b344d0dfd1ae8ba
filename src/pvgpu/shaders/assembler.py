"""fxc-style assembly text -> a DXBC container: the inverse of `disasm`.

    blob = assemble('''
    // in:  TEXCOORD 0 xy v0 float
    // out: SV_Target 0 xyzw o0 float
    ps_4_0
    dcl_input_ps linear v0.xy
    dcl_output o0.xyzw
    mov o0.xyzw, l(1.0, 0.5, 0, 1.0)
    ret
    ''')

The text is what `disasm.disassemble` (and fxc) prints: a profile line, then one instruction
or declaration per line (`dcl_immediateConstantBuffer { ... }` may span lines). Mnemonics,
operand shapes and declaration forms are looked up in the decoder's opcode table
(`opcodes.by_name`), instructions are built as `ir.Instruction`s and `encoder.encode` writes
the tokens, so `assemble(disassemble(x))` gives back x's tokens (up to `%f`-rounded floats).

Immediates: a number written with a dot or an exponent (or inf/nan) is float bits; integers,
`0x...` hex and negative integers are integer bits. `d(...)` holds doubles.

Signatures: fxc's "Input signature:" / "Output signature:" / "Patch Constant signature:"
tables (with or without `//`), or one line per element:
`// in: NAME INDEX MASK REGISTER FORMAT [USED]` (`// out:`, `// patch:`), e.g.
`// in: TEXCOORD 0 xy v1 float`. Without either, they are derived from the dcl_input*/
dcl_output* declarations (TEXCOORD<register>, SV_Position for `position`, SV_Target<n>
for pixel outputs, SV_Depth for oDepth, ...).

Errors are `ShaderInvalid` naming the line and column.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field, replace

from . import container, encoder, opcodes
from .errors import ShaderInvalid
from .ir import (ComponentType, Index, IndexRepresentation, Instruction, Interpolation, Modifier, Operand,
                 OperandType, Program, ProgramType, ResInfoType, ResourceDimension, ReturnType, SamplerMode,
                 Selection, SignatureElement, SyncFlag, SystemValue)

__all__ = ["assemble", "parse", "Assembled"]

# --- names (the disassembler's, with a few aliases vkd3d and older fxc use) ------------------------

REGISTERS: dict[str, OperandType] = {
    "r": OperandType.TEMP, "v": OperandType.INPUT, "o": OperandType.OUTPUT, "x": OperandType.INDEXABLE_TEMP,
    "s": OperandType.SAMPLER, "t": OperandType.RESOURCE, "cb": OperandType.CONSTANT_BUFFER,
    "icb": OperandType.IMMEDIATE_CONSTANT_BUFFER, "l": OperandType.LABEL, "vprim": OperandType.INPUT_PRIMITIVEID,
    "primid": OperandType.INPUT_PRIMITIVEID, "odepth": OperandType.OUTPUT_DEPTH, "null": OperandType.NULL,
    "rasterizer": OperandType.RASTERIZER, "omask": OperandType.OUTPUT_COVERAGE_MASK, "m": OperandType.STREAM,
    "fb": OperandType.FUNCTION_BODY, "ft": OperandType.FUNCTION_TABLE, "fp": OperandType.INTERFACE,
    "fi": OperandType.FUNCTION_INPUT, "fo": OperandType.FUNCTION_OUTPUT,
    "voutputcontrolpointid": OperandType.OUTPUT_CONTROL_POINT_ID,
    "vforkinstanceid": OperandType.INPUT_FORK_INSTANCE_ID, "vjoininstanceid": OperandType.INPUT_JOIN_INSTANCE_ID,
    "vicp": OperandType.INPUT_CONTROL_POINT, "vocp": OperandType.OUTPUT_CONTROL_POINT,
    "vpc": OperandType.INPUT_PATCH_CONSTANT, "vdomain": OperandType.INPUT_DOMAIN_POINT,
    "vdomainlocation": OperandType.INPUT_DOMAIN_POINT, "this": OperandType.THIS_POINTER,
    "u": OperandType.UNORDERED_ACCESS_VIEW, "g": OperandType.THREAD_GROUP_SHARED_MEMORY,
    "vthreadid": OperandType.INPUT_THREAD_ID, "vthreadgroupid": OperandType.INPUT_THREAD_GROUP_ID,
    "vthreadidingroup": OperandType.INPUT_THREAD_ID_IN_GROUP, "vcoverage": OperandType.INPUT_COVERAGE_MASK,
    "vthreadidingroupflattened": OperandType.INPUT_THREAD_ID_IN_GROUP_FLATTENED,
    "vgsinstanceid": OperandType.INPUT_GS_INSTANCE_ID, "odepthge": OperandType.OUTPUT_DEPTH_GREATER_EQUAL,
    "odepthle": OperandType.OUTPUT_DEPTH_LESS_EQUAL, "vcyclecounter": OperandType.CYCLE_COUNTER,
    "ostencilref": OperandType.OUTPUT_STENCIL_REF, "vinnercoverage": OperandType.INNER_COVERAGE,
}
#: Register files that take a register number glued to the name (r3, cb0, x1, ...).
_NUMBERED = frozenset({"r", "v", "o", "x", "s", "t", "cb", "l", "m", "fb", "ft", "fp", "fi", "fo", "u", "g"})
DIMENSIONS = {
    "unknown": ResourceDimension.UNKNOWN, "buffer": ResourceDimension.BUFFER,
    "texture1d": ResourceDimension.TEXTURE1D, "texture2d": ResourceDimension.TEXTURE2D,
    "texture2dms": ResourceDimension.TEXTURE2DMS, "texture3d": ResourceDimension.TEXTURE3D,
    "texturecube": ResourceDimension.TEXTURECUBE, "texture1darray": ResourceDimension.TEXTURE1DARRAY,
    "texture2darray": ResourceDimension.TEXTURE2DARRAY, "texture2dmsarray": ResourceDimension.TEXTURE2DMSARRAY,
    "texturecubearray": ResourceDimension.TEXTURECUBEARRAY, "raw_buffer": ResourceDimension.RAW_BUFFER,
    "structured_buffer": ResourceDimension.STRUCTURED_BUFFER,
}
RETURN_TYPES = {"unorm": ReturnType.UNORM, "snorm": ReturnType.SNORM, "sint": ReturnType.SINT,
                "uint": ReturnType.UINT, "float": ReturnType.FLOAT, "mixed": ReturnType.MIXED,
                "double": ReturnType.DOUBLE, "continued": ReturnType.CONTINUED, "unused": ReturnType.UNUSED}
INTERPOLATIONS = {
    "constant": Interpolation.CONSTANT, "linear": Interpolation.LINEAR,
    "linear centroid": Interpolation.LINEAR_CENTROID, "linear noperspective": Interpolation.LINEAR_NOPERSPECTIVE,
    "linear noperspective centroid": Interpolation.LINEAR_NOPERSPECTIVE_CENTROID,
    "linear sample": Interpolation.LINEAR_SAMPLE,
    "linear noperspective sample": Interpolation.LINEAR_NOPERSPECTIVE_SAMPLE,
}
SAMPLER_MODES = {"mode_default": SamplerMode.DEFAULT, "mode_comparison": SamplerMode.COMPARISON,
                 "mode_mono": SamplerMode.MONO}
#: D3D10_SB_NAME numbers of `_siv`/`_sgv` declarations.
DECLARATION_NAMES = {name.lower(): number for number, name in enumerate((
    "undefined", "position", "clip_distance", "cull_distance", "rendertarget_array_index",
    "viewport_array_index", "vertex_id", "primitive_id", "instance_id", "is_front_face", "sample_index",
    "finalQuadUeq0EdgeTessFactor", "finalQuadVeq0EdgeTessFactor", "finalQuadUeq1EdgeTessFactor",
    "finalQuadVeq1EdgeTessFactor", "finalQuadUInsideTessFactor", "finalQuadVInsideTessFactor",
    "finalTriUeq0EdgeTessFactor", "finalTriVeq0EdgeTessFactor", "finalTriWeq0EdgeTessFactor",
    "finalTriInsideTessFactor", "finalLineDetailTessFactor", "finalLineDensityTessFactor"))}
DECLARATION_NAMES["sampleindex"] = 10
GLOBAL_FLAGS = {name.lower(): bit for bit, name in enumerate((
    "refactoringAllowed", "enableDoublePrecisionFloatOps", "forceEarlyDepthStencil",
    "enableRawAndStructuredBuffers", "skipOptimization", "enableMinimumPrecision",
    "enable11_1DoubleExtensions", "enable11_1ShaderExtensions"))}
PRIMITIVES = {"point": 1, "line": 2, "triangle": 3, "lineadj": 6, "triangleadj": 7,
              **{f"patch{n}": 7 + n for n in range(1, 33)}}
TOPOLOGIES = {"pointlist": 1, "linelist": 2, "linestrip": 3, "trianglelist": 4, "trianglestrip": 5,
              "linelist_adj": 10, "linestrip_adj": 11, "trianglelist_adj": 12, "trianglestrip_adj": 13}
TESSELLATOR = {
    "dcl_tessellator_domain": {"domain_isoline": 1, "domain_tri": 2, "domain_quad": 3},
    "dcl_tessellator_partitioning": {"partitioning_integer": 1, "partitioning_pow2": 2,
                                     "partitioning_fractional_odd": 3, "partitioning_fractional_even": 4},
    "dcl_tessellator_output_primitive": {"output_point": 1, "output_line": 2, "output_triangle_cw": 3,
                                         "output_triangle_ccw": 4},
}
SYNC_SUFFIXES = {"uglobal": SyncFlag.UAV_MEMORY_GLOBAL, "ugroup": SyncFlag.UAV_MEMORY_GROUP,
                 "g": SyncFlag.THREAD_GROUP_SHARED_MEMORY, "t": SyncFlag.THREADS_IN_GROUP}
PROGRAM_TYPES = {t.prefix: t for t in ProgramType}

#: Operands fxc writes with one component (no suffix) where it writes them at all...
_ONE_COMPONENT = frozenset({OperandType.OUTPUT_DEPTH, OperandType.OUTPUT_DEPTH_GREATER_EQUAL,
                            OperandType.OUTPUT_DEPTH_LESS_EQUAL, OperandType.OUTPUT_STENCIL_REF,
                            OperandType.OUTPUT_COVERAGE_MASK, OperandType.INPUT_PRIMITIVEID,
                            OperandType.OUTPUT_CONTROL_POINT_ID, OperandType.INPUT_COVERAGE_MASK,
                            OperandType.CYCLE_COUNTER})
#: ...except in their declarations, where these have none (and vCoverage keeps its one).
_ZERO_IN_DECLARATIONS = frozenset({OperandType.OUTPUT_COVERAGE_MASK, OperandType.INPUT_PRIMITIVEID,
                                   OperandType.OUTPUT_CONTROL_POINT_ID})
_MASK_LETTERS = "xyzw"
_PROFILE = re.compile(r"^(vs|ps|gs|hs|ds|cs)_([45])_([01])\b")
_SIGNATURE_TITLES = {"input signature:": "inputs", "output signature:": "outputs",
                     "patch constant signature:": "patch_constants"}
_SIGNATURE_LINE = re.compile(r"^//\s*(in|out|patch)\s*:\s*(.*)$", re.I)


# --- errors and text positions ---------------------------------------------------------------------

@dataclass
class _Line:
    number: int  # 1-based line of the source text
    text: str  # the statement (comments removed)
    column: int  # 1-based column where `text` starts


def _fail(line: _Line, position: int, message: str) -> ShaderInvalid:
    return ShaderInvalid(f"line {line.number}, column {line.column + position}: {message}")


class _Cursor:
    """A position in one statement, for the recursive-descent operand parser."""

    def __init__(self, line: _Line, text: str, start: int):
        self.line, self.text, self.pos, self.start = line, text, 0, start

    def fail(self, message: str, at: int | None = None) -> ShaderInvalid:
        return _fail(self.line, self.start + (self.pos if at is None else at), message)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.skip()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, what: str) -> None:
        if not self.take(token):
            raise self.fail(f"expected {token!r} {what}")

    def match(self, pattern: re.Pattern) -> re.Match | None:
        self.skip()
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)


# --- numbers -----------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(0x[0-9a-fA-F]+|1\.#(INF|QNAN|IND|SNAN)0*|inf|nan|[0-9]*\.?[0-9]+(e[-+]?[0-9]+)?"
                     r"\.?)", re.I)
_INTEGER = re.compile(r"[-+]?([0-9]+|0x[0-9a-fA-F]+)$", re.I)
_NAN32 = {"qnan": 0x7FC00000, "nan": 0x7FC00000, "ind": 0xFFC00000, "snan": 0x7F800001}


def _is_float_text(text: str) -> bool:
    return not _INTEGER.match(text)


def _float_value(text: str) -> float:
    low = text.lower()
    sign = -1.0 if low.startswith("-") else 1.0
    if "inf" in low:
        return sign * math.inf
    if "nan" in low or "ind" in low:
        return math.nan
    return float(text)


def number_bits(text: str, what: str = "number") -> int:
    """The 32 bits a literal stands for: floats (a dot, an exponent, inf/nan) as IEEE single,
    integers (decimal, 0x hex, negative) as two's complement. ValueError when it is neither."""
    low = text.lower()
    if _INTEGER.match(text):
        value = int(low, 0) if not low.lstrip("+-").startswith("0x") else \
            (-1 if low.startswith("-") else 1) * int(low.lstrip("+-"), 16)
        if not -(1 << 31) <= value < (1 << 32):
            raise ValueError(f"{what} {text} does not fit 32 bits")
        return value & 0xFFFFFFFF
    for key, bits in _NAN32.items():
        if "#" + key in low or (key == "nan" and low.lstrip("+-") == "nan"):
            return bits | (0x80000000 if low.startswith("-") and key != "ind" else 0)
    try:
        value = _float_value(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    try:
        return struct.unpack("<I", struct.pack("<f", value))[0]
    except OverflowError:
        raise ValueError(f"{what} {text} is too large for a 32-bit float") from None


def _double_words(text: str) -> tuple[int, int]:
    value = _float_value(text)
    low, high = struct.unpack("<II", struct.pack("<d", value))
    return low, high


def _integer(text: str, line: _Line, position: int, what: str) -> int:
    if not _INTEGER.match(text.strip()):
        raise _fail(line, position, f"{what} must be an integer, not {text.strip()!r}")
    return int(text.strip(), 0)


# --- operands ----------------------------------------------------------------------------------------

_REGISTER_NAME = re.compile(r"([A-Za-z]+)([0-9]*)")
_SUFFIX = re.compile(r"\.([xyzw]{1,4}|[rgba]{1,4})\b")


@dataclass(frozen=True)
class _Context:
    """Where an operand stands: "D" destination, "S" source, "O" declared register, "R" a
    relative index."""
    role: str


def _immediate(cursor: _Cursor, wide: bool) -> Operand:
    start = cursor.pos - 1  # at the l or d
    cursor.expect("(", "after l/d")
    close = cursor.text.find(")", cursor.pos)
    if close < 0:
        raise cursor.fail("immediate without its ')'", start)
    items = [item.strip() for item in cursor.text[cursor.pos:close].split(",")]
    cursor.pos = close + 1
    if not items or any(not item for item in items):
        raise cursor.fail("empty value in an immediate", start)
    try:
        if wide:
            if all(not _is_float_text(item) for item in items):
                values = tuple(number_bits(item, "value") for item in items)
            else:
                values = tuple(word for item in items for word in _double_words(item))
            if len(values) not in (2, 4):
                raise cursor.fail(f"d(...) holds 1 or 2 doubles, not {len(items)} values", start)
            return Operand(OperandType.IMMEDIATE64, components=1 if len(values) == 2 else 4,
                           selection=Selection.MASK, mask=0 if len(values) == 4 else 1, values=values)
        values = tuple(number_bits(item, "value") for item in items)
    except ValueError as error:
        raise cursor.fail(str(error), start) from None
    if len(values) == 1:
        return Operand(OperandType.IMMEDIATE32, components=1, selection=Selection.MASK, mask=1,
                       swizzle=(0, 0, 0, 0), values=values)
    if len(values) != 4:
        raise cursor.fail(f"l(...) holds 1 or 4 values, not {len(values)}", start)
    return Operand(OperandType.IMMEDIATE32, components=4, selection=Selection.MASK, mask=0, values=values)


def _relative(immediate: int, relative: Operand) -> Index:
    """fxc writes a relative index with offset 0 as relative only, any other offset as
    immediate + relative, and prints both as `[r0.x + n]` (every relative index in the
    corpora follows this)."""
    if immediate == 0:
        return Index(0, relative, IndexRepresentation.RELATIVE)
    return Index(immediate, relative, IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE)


def _index(cursor: _Cursor) -> Index:
    """`[3]`, `[r0.x]`, `[r0.x + 3]` (the opening bracket already taken)."""
    start = cursor.pos
    number = cursor.match(re.compile(r"[0-9]+|0x[0-9a-fA-F]+"))
    if number:
        immediate = int(number.group(0), 0)
        if cursor.take("+"):
            relative = _operand(cursor, _Context("R"))
            cursor.expect("]", "to close the index")
            return _relative(immediate, relative)
        cursor.expect("]", "to close the index")
        if immediate >= 1 << 32:
            raise cursor.fail(f"register index {immediate} does not fit 32 bits", start)
        return Index(immediate)
    relative = _operand(cursor, _Context("R"))
    if cursor.take("+"):
        offset = cursor.match(re.compile(r"[0-9]+|0x[0-9a-fA-F]+"))
        if not offset:
            raise cursor.fail("expected a number after '+' in an index")
        cursor.expect("]", "to close the index")
        return _relative(int(offset.group(0), 0), relative)
    cursor.expect("]", "to close the index")
    return Index(0, relative, IndexRepresentation.RELATIVE)


def _shape(operand_type: OperandType, letters: str | None, context: _Context, indices: int,
           cursor: _Cursor, at: int) -> dict:
    """Components, selection, mask and swizzle from the `.xyzw` suffix and the context."""
    if letters is None:
        if context.role == "O" and (operand_type == OperandType.CONSTANT_BUFFER or indices == 3):
            return dict(components=4, selection=Selection.SWIZZLE, mask=0b1111, swizzle=(0, 1, 2, 3))
        one = operand_type in _ONE_COMPONENT and not (context.role == "O" and operand_type in _ZERO_IN_DECLARATIONS)
        if one:
            return dict(components=1, selection=Selection.MASK, mask=1, swizzle=(0, 0, 0, 0))
        return dict(components=0, selection=Selection.MASK, mask=0, swizzle=(0, 0, 0, 0))
    letters = letters.translate(str.maketrans("rgba", "xyzw"))
    picks = [_MASK_LETTERS.index(c) for c in letters]
    if context.role in ("D", "O"):
        if picks != sorted(set(picks)):
            raise cursor.fail(f"bad write mask .{letters}: components must be distinct and in xyzw order", at)
        return dict(components=4, selection=Selection.MASK, mask=sum(1 << p for p in picks), swizzle=(0, 0, 0, 0))
    if len(picks) == 1:
        return dict(components=4, selection=Selection.SELECT1, mask=1 << picks[0], swizzle=(picks[0],) * 4)
    if len(picks) == 4:
        return dict(components=4, selection=Selection.SWIZZLE, mask=0b1111, swizzle=tuple(picks))
    if context.role == "R":
        raise cursor.fail("a relative index selects one component", at)
    if picks != sorted(set(picks)):
        raise cursor.fail(f"bad swizzle .{letters}: a swizzle has one or four components", at)
    return dict(components=4, selection=Selection.MASK, mask=sum(1 << p for p in picks), swizzle=(0, 0, 0, 0))


def _operand(cursor: _Cursor, context: _Context) -> Operand:
    """[-][|] register-or-immediate [|]"""
    cursor.skip()
    start = cursor.pos
    modifier = Modifier.NONE
    if cursor.take("-"):
        modifier |= Modifier.NEG
    absolute = cursor.take("|")
    if absolute:
        modifier |= Modifier.ABS
    cursor.skip()
    at = cursor.pos
    if cursor.text.startswith(("l(", "d("), cursor.pos) or cursor.text.startswith(("l (", "d ("), cursor.pos):
        wide = cursor.text[cursor.pos] == "d"
        cursor.pos += 1
        operand = _immediate(cursor, wide)
    else:
        found = cursor.match(_REGISTER_NAME)
        if not found:
            raise cursor.fail("expected a register or an immediate", at)
        letters, digits = found.group(1), found.group(2)
        key = letters.lower() if letters.lower() in REGISTERS else letters
        if key not in REGISTERS:
            # `vicp`, `vThreadID`... take the whole word; anything else is unknown
            raise cursor.fail(f"unknown register {letters + digits!r}", at)
        operand_type = REGISTERS[key]
        indices: list[Index] = []
        if digits:
            if key not in _NUMBERED:
                raise cursor.fail(f"register {letters!r} takes no number", at)
            indices.append(Index(int(digits)))
        while cursor.text.startswith("[", cursor.pos):
            cursor.pos += 1
            indices.append(_index(cursor))
        if key in _NUMBERED and not indices and operand_type != OperandType.NULL:
            raise cursor.fail(f"register {letters!r} needs a number", at)
        suffix_at = cursor.pos
        suffix = _SUFFIX.match(cursor.text, cursor.pos)
        if suffix:
            cursor.pos = suffix.end()
        elif cursor.text.startswith(".", cursor.pos):
            bad = re.match(r"\.\w*", cursor.text[cursor.pos:]).group(0)
            raise cursor.fail(f"bad component mask or swizzle {bad!r}", suffix_at)
        shape = _shape(operand_type, suffix.group(1) if suffix else None, context, len(indices), cursor, suffix_at)
        operand = Operand(type=operand_type, indices=tuple(indices), **shape)
    if absolute:
        cursor.expect("|", "to close |x|")
    suffix = _SUFFIX.match(cursor.text, cursor.pos)  # `|r0|.x` is not fxc's, refuse clearly
    if suffix:
        raise cursor.fail("the component suffix goes inside |...|", suffix.start())
    if modifier:
        if context.role in ("D", "O"):
            raise cursor.fail("a destination takes no - or |x| modifier", start)
        operand = replace(operand, modifier=modifier)
    return operand


def _split_arguments(text: str) -> list[tuple[int, str]]:
    """Top-level comma-separated pieces with their offsets (commas inside (), [], {} kept)."""
    pieces, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            pieces.append((start, text[start:i]))
            start = i + 1
    if text[start:].strip() or pieces:
        pieces.append((start, text[start:]))
    return [(at + len(piece) - len(piece.lstrip()), piece.strip()) for at, piece in pieces]


def _parse_operand(line: _Line, offset: int, text: str, role: str) -> Operand:
    cursor = _Cursor(line, text, offset)
    operand = _operand(cursor, _Context(role))
    if not cursor.at_end():
        raise cursor.fail(f"unexpected {cursor.text[cursor.pos:].strip()!r} after the operand")
    return operand


# --- mnemonics ---------------------------------------------------------------------------------------

_HEAD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\([^()]*\)[A-Za-z0-9_]*)*")
_GROUP = re.compile(r"\(([^()]*)\)")


@dataclass
class _Head:
    info: opcodes.OpcodeInfo
    name: str  # the table's mnemonic (or a custom-data alias)
    suffixes: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # parenthesised parts, in order


def _split_head(head: str, line: _Line, column: int) -> _Head:
    groups = _GROUP.findall(head)
    bare = _GROUP.sub("", head)
    words = bare.split("_")
    for cut in range(len(words), 0, -1):
        name = "_".join(words[:cut])
        info = opcodes.by_name(name)
        if info is not None:
            return _Head(info, name, [w for w in words[cut:] if w], groups)
    raise _fail(line, column, f"unknown instruction {bare!r}")


# --- statements --------------------------------------------------------------------------------------

@dataclass
class Assembled:
    """What the text describes: the program and its signatures (given or derived)."""
    program: Program
    inputs: tuple[SignatureElement, ...]
    outputs: tuple[SignatureElement, ...]
    patch_constants: tuple[SignatureElement, ...]


class _Parser:
    def __init__(self) -> None:
        self.program_type: ProgramType | None = None
        self.major = self.minor = 0
        self.instructions: list[Instruction] = []
        self.signatures: dict[str, list[SignatureElement]] = {}

    # -- instructions -------------------------------------------------------------------------

    def statement(self, line: _Line) -> None:
        text = line.text
        found = _HEAD.match(text)
        if not found:
            raise _fail(line, 0, f"expected an instruction, found {text.strip()!r}")
        head = _split_head(found.group(0), line, 0)
        rest = text[found.end():]
        rest_offset = found.end()
        precise = re.match(r"\s*\[precise(?:\(([xyzw]*)\))?\]", rest)
        precise_mask = 0
        if precise:
            precise_mask = 0b1111 if precise.group(1) is None else \
                sum(1 << _MASK_LETTERS.index(c) for c in precise.group(1))
            rest_offset += precise.end()
            rest = rest[precise.end():]
        if head.info.is_declaration:
            ins = self.declaration(head, line, rest, rest_offset)
        else:
            ins = self.instruction(head, line, rest, rest_offset, precise_mask)
        self.instructions.append(ins)

    def _modifiers(self, head: _Head, line: _Line, fields: dict) -> None:
        info = head.info
        C = opcodes.Control
        groups = list(head.groups)
        for suffix in head.suffixes:
            if suffix == "sat" and info.has(C.SATURATE):
                fields["saturate"] = True
            elif suffix in ("nz", "z") and info.has(C.TEST):
                fields["test_nonzero"] = suffix == "nz"
            elif suffix == "uint" and info.has(C.RESINFO | C.SAMPLEINFO):
                fields["resinfo_type"] = ResInfoType.UINT
            elif suffix == "rcpFloat" and info.has(C.RESINFO):
                fields["resinfo_type"] = ResInfoType.RCP_FLOAT
            elif suffix in SYNC_SUFFIXES and info.has(C.SYNC):
                fields["sync_flags"] = fields.get("sync_flags", SyncFlag(0)) | SYNC_SUFFIXES[suffix]
            elif suffix in ("aoffimmi", "indexable"):
                pass  # their parenthesised parts say it all
            else:
                raise _fail(line, 0, f"{head.name} takes no _{suffix} modifier")
        for group in groups:
            items = [item.strip() for item in group.split(",")]
            lowered = [item.lower() for item in items]
            if len(items) == 3 and all(_INTEGER.match(item) for item in items):
                offsets = tuple(int(item) for item in items)
                if any(not -8 <= o <= 7 for o in offsets):
                    raise _fail(line, 0, f"sample offsets ({group}) must be within -8..7")
                fields["sample_offsets"] = offsets
            elif lowered[0] in DIMENSIONS:
                fields["resource_dimension"] = DIMENSIONS[lowered[0]]
                for extra in lowered[1:]:
                    stride = re.fullmatch(r"stride\s*=\s*([0-9]+)", extra)
                    if not stride:
                        raise _fail(line, 0, f"unknown resource property {extra!r}")
                    fields["structure_stride"] = int(stride.group(1)) or None
            elif len(items) == 4 and all(item in RETURN_TYPES for item in lowered):
                fields["return_types"] = tuple(RETURN_TYPES[item] for item in lowered)
            else:
                raise _fail(line, 0, f"{head.name}: cannot read ({group})")
        if info.has(C.TEST) and "test_nonzero" not in fields:
            raise _fail(line, 0, f"{head.name} needs _nz or _z")
        if info.has(C.RESINFO | C.SAMPLEINFO):
            fields.setdefault("resinfo_type", ResInfoType.FLOAT)

    def instruction(self, head: _Head, line: _Line, rest: str, offset: int, precise_mask: int) -> Instruction:
        info = head.info
        fields: dict = {}
        self._modifiers(head, line, fields)
        if precise_mask:
            if not info.has(opcodes.Control.PRECISE):
                raise _fail(line, 0, f"{head.name} takes no [precise]")
            fields["precise_mask"] = precise_mask
        arguments = _split_arguments(rest)
        kinds = info.operands
        values: tuple[int, ...] = ()
        if info.name == "fcall":  # `fcall fp0[0][0], 3`: the body number is printed last
            if not arguments:
                raise _fail(line, offset, "fcall needs its operand and body number")
            at, text = arguments.pop()
            values = (_integer(text, line, offset + at, "fcall's body"),)
        if len(arguments) != len(kinds):
            first = offset + len(rest) - len(rest.lstrip())
            raise _fail(line, first, f"{head.name} takes {len(kinds)} operand{'s' * (len(kinds) != 1)}, "
                                      f"found {len(arguments)}")
        operands = tuple(_parse_operand(line, offset + at, text, kind.role)
                         for (at, text), kind in zip(arguments, kinds))
        return Instruction(name=info.name, opcode=info.number, operands=operands, values=values, **fields)

    # -- declarations -------------------------------------------------------------------------

    def declaration(self, head: _Head, line: _Line, rest: str, offset: int) -> Instruction:
        info = head.info
        name = info.name
        make = lambda **kw: Instruction(name=name, opcode=info.number, **kw)  # noqa: E731
        suffixes = list(head.suffixes)
        arguments = _split_arguments(rest)

        def operand(index: int = 0, role: str = "O") -> Operand:
            if index >= len(arguments):
                raise _fail(line, offset, f"{name} needs a register")
            at, text = arguments[index]
            return _parse_operand(line, offset + at, text, role)

        def number(index: int, what: str) -> int:
            if index >= len(arguments):
                raise _fail(line, offset, f"{name} needs its {what}")
            at, text = arguments[index]
            return _integer(text, line, offset + at, what)

        def word(index: int, table: dict, what: str):
            if index >= len(arguments) or arguments[index][1].strip().lower() not in table:
                at = arguments[index][0] if index < len(arguments) else 0
                got = arguments[index][1].strip() if index < len(arguments) else "nothing"
                raise _fail(line, offset + at, f"{name}: unknown {what} {got!r} "
                                               f"(one of {', '.join(sorted(table))})")
            return table[arguments[index][1].strip().lower()]

        def count(expected: int) -> None:
            if len(arguments) != expected:
                raise _fail(line, offset, f"{name} takes {expected} argument{'s' * (expected != 1)}, "
                                          f"found {len(arguments)}")

        def no_suffixes(allowed: tuple[str, ...] = ()) -> None:
            for suffix in suffixes:
                if suffix not in allowed:
                    raise _fail(line, 0, f"{name} takes no _{suffix} modifier")

        if name == "dcl_immediateConstantBuffer" or head.name == "dcl_immediateConstantBuffer":
            return self.immediate_constant_buffer(line, rest, offset)
        if info.has(opcodes.Control.CUSTOM_DATA):
            raise _fail(line, 0, f"{head.name}: only dcl_immediateConstantBuffer custom data is assembled")
        if name == "dcl_globalFlags":
            no_suffixes()
            flags = 0
            for part in rest.split("|"):
                key = part.strip().lower()
                if not key:
                    continue
                if key not in GLOBAL_FLAGS:
                    raise _fail(line, offset, f"unknown global flag {part.strip()!r}")
                flags |= 1 << GLOBAL_FLAGS[key]
            return make(flags=flags)
        if name == "dcl_constantbuffer":
            no_suffixes()
            count(2)
            at, text = arguments[0]
            cb = _parse_operand(line, offset + at, re.sub(r"^\s*CB", "cb", text), "O")
            if cb.type != OperandType.CONSTANT_BUFFER:
                raise _fail(line, offset + at, "dcl_constantbuffer declares a cb# register")
            access = word(1, {"immediateindexed": False, "dynamicindexed": True}, "access")
            return make(operands=(cb,), dynamic_indexed=access)
        if name == "dcl_sampler":
            no_suffixes()
            count(2)
            return make(operands=(operand(),), sampler_mode=word(1, SAMPLER_MODES, "sampler mode"))
        if name in ("dcl_resource", "dcl_uav_typed"):
            return self.typed_resource(head, line, rest, offset)
        if name in ("dcl_uav_raw", "dcl_uav_structured"):
            fields = self._uav_flags(suffixes, head, line)
            count(2 if name == "dcl_uav_structured" else 1)
            values = (number(1, "stride"),) if name == "dcl_uav_structured" else ()
            dimension = ResourceDimension.RAW_BUFFER if name == "dcl_uav_raw" else ResourceDimension.STRUCTURED_BUFFER
            return make(operands=(operand(),), values=values, resource_dimension=dimension,
                        structure_stride=values[0] if values else None, **fields)
        if name in ("dcl_input_ps", "dcl_input_ps_siv", "dcl_input_ps_sgv"):
            no_suffixes()
            first_at, first = arguments[0] if arguments else (0, "")
            mode = re.match(r"\s*((?:constant|linear|centroid|noperspective|sample)(?:\s+(?:centroid|noperspective|sample))*)\s+",
                            first)
            interpolation = Interpolation.UNDEFINED
            if mode:
                key = " ".join(mode.group(1).split())
                if key not in INTERPOLATIONS:
                    raise _fail(line, offset + first_at, f"unknown interpolation {key!r}")
                interpolation = INTERPOLATIONS[key]
                arguments[0] = (first_at + mode.end(), first[mode.end():])
            count(1 if name == "dcl_input_ps" else 2)
            values = () if name == "dcl_input_ps" else (word(1, DECLARATION_NAMES, "system value"),)
            return make(operands=(operand(),), interpolation=interpolation, values=values,
                        system_value=_declared_system_value(values))
        if name in ("dcl_input_siv", "dcl_input_sgv", "dcl_output_siv", "dcl_output_sgv"):
            no_suffixes()
            count(2)
            values = (word(1, DECLARATION_NAMES, "system value"),)
            return make(operands=(operand(),), values=values, system_value=_declared_system_value(values))
        if name == "dcl_indexableTemp":
            no_suffixes()
            count(2)
            at, text = arguments[0]
            found = re.fullmatch(r"\s*x([0-9]+)\s*\[\s*([0-9]+)\s*\]\s*", text)
            if not found:
                raise _fail(line, offset + at, "dcl_indexableTemp declares x#[size]")
            components = number(1, "component count")
            return make(values=(int(found.group(1)), int(found.group(2)), components))
        if name in ("dcl_inputprimitive", "dcl_outputtopology") or name in TESSELLATOR:
            no_suffixes()
            count(1)
            table = PRIMITIVES if name == "dcl_inputprimitive" else \
                TOPOLOGIES if name == "dcl_outputtopology" else TESSELLATOR[name]
            return make(flags=word(0, table, "value"))
        if name in ("dcl_input_control_point_count", "dcl_output_control_point_count"):
            no_suffixes()
            count(1)
            return make(flags=number(0, "control point count"))
        if name == "dcl_hs_max_tessfactor":
            no_suffixes()
            count(1)
            at, text = arguments[0]
            found = re.fullmatch(r"\s*l\(\s*([^)]*)\)\s*", text) or re.fullmatch(r"\s*([^\s]+)\s*", text)
            try:
                return make(values=(number_bits(found.group(1), "tessellation factor"),))
            except (ValueError, AttributeError):
                raise _fail(line, offset + at, f"bad tessellation factor {text.strip()!r}") from None
        if name == "dcl_indexrange":  # `dcl_indexrange v1.xyzw 4`: no comma before the count
            no_suffixes()
            count(1)
            at, text = arguments[0]
            found = re.fullmatch(r"(.*\S)\s+([0-9]+)\s*", text)
            if not found:
                raise _fail(line, offset + at, "dcl_indexrange takes a register and a count")
            return make(operands=(_parse_operand(line, offset + at, found.group(1), "O"),),
                        values=(int(found.group(2)),))
        if name in ("dcl_function_body", "dcl_function_table", "dcl_interface"):
            raise _fail(line, 0, f"{name}: class linkage is not assembled")
        # the rest follow the table's layout: registers, then plain numbers
        no_suffixes()
        layout = opcodes.layout_for(info, self.major, self.minor)
        count(len(layout))
        operands, values = [], []
        for i, item in enumerate(layout):
            if item.startswith("#"):
                values.append(number(i, item[1:]))
            else:
                operands.append(operand(i))
        fields: dict = {}
        if name in ("dcl_resource_raw",):
            fields["resource_dimension"] = ResourceDimension.RAW_BUFFER
        if name == "dcl_resource_structured":
            fields.update(resource_dimension=ResourceDimension.STRUCTURED_BUFFER, structure_stride=values[0])
        return make(operands=tuple(operands), values=tuple(values), **fields)

    def _uav_flags(self, suffixes: list[str], head: _Head, line: _Line) -> dict:
        fields = {"globally_coherent": False, "rasterizer_ordered": False, "flags": 0}
        for suffix in suffixes:
            if suffix == "glc":
                fields["globally_coherent"] = True
            elif suffix == "rov":
                fields["rasterizer_ordered"] = True
            elif suffix == "opc":
                fields["flags"] |= 1 << 12  # bit 23 of the opcode token: the UAV has a counter
            else:
                raise _fail(line, 0, f"{head.name} takes no _{suffix} modifier")
        return fields

    def typed_resource(self, head: _Head, line: _Line, rest: str, offset: int) -> Instruction:
        """`dcl_resource_texture2dms(4) (float,float,float,float) t0`, `dcl_uav_typed_texture2d_glc ...`"""
        info = head.info
        suffixes = list(head.suffixes)
        # dimension names may contain an underscore? none of the typed ones do: the first suffix
        if not suffixes or suffixes[0].lower() not in DIMENSIONS:
            raise _fail(line, 0, f"{info.name} needs a dimension (_texture2d, _buffer, ...)")
        dimension = DIMENSIONS[suffixes.pop(0).lower()]
        fields = self._uav_flags(suffixes, head, line) if info.name == "dcl_uav_typed" else {}
        if suffixes and info.name == "dcl_resource":
            raise _fail(line, 0, f"{info.name} takes no _{suffixes[0]} modifier")
        sample_count = 0
        for group in head.groups:
            if not _INTEGER.match(group.strip()):
                raise _fail(line, 0, f"{info.name}: cannot read ({group})")
            sample_count = int(group.strip(), 0)
        found = re.match(r"\s*\(([^()]*)\)", rest)
        if not found:
            raise _fail(line, offset, f"{info.name} needs its return types, e.g. (float,float,float,float)")
        names = [item.strip().lower() for item in found.group(1).split(",")]
        if len(names) != 4 or any(n not in RETURN_TYPES for n in names):
            raise _fail(line, offset, f"bad return types ({found.group(1)})")
        return_types = tuple(RETURN_TYPES[n] for n in names)
        register = _parse_operand(line, offset + found.end(), rest[found.end():], "O")
        packed = sum(int(t) << (4 * i) for i, t in enumerate(return_types))
        return Instruction(name=info.name, opcode=info.number, operands=(register,), values=(packed,),
                           resource_dimension=dimension, return_types=return_types, sample_count=sample_count,
                           **fields)

    def immediate_constant_buffer(self, line: _Line, rest: str, offset: int) -> Instruction:
        body = rest.strip()
        if not (body.startswith("{") and body.endswith("}")):
            raise _fail(line, offset, "dcl_immediateConstantBuffer takes { { a, b, c, d }, ... }")
        inner = body[1:-1]
        data: list[int] = []
        for row in re.finditer(r"\{([^{}]*)\}", inner):
            items = [item.strip() for item in row.group(1).split(",")]
            if len(items) != 4:
                raise _fail(line, offset, f"an immediate constant buffer row has 4 values, not {len(items)}")
            try:
                data.extend(number_bits(item, "value") for item in items)
            except ValueError as error:
                raise _fail(line, offset, str(error)) from None
        if re.sub(r"\{[^{}]*\}", "", inner).replace(",", "").strip():
            raise _fail(line, offset, "unexpected text in the immediate constant buffer")
        return Instruction(name="dcl_immediateConstantBuffer", opcode=0x35, flags=opcodes.IMMEDIATE_CONSTANT_BUFFER,
                           data=tuple(data))


def _declared_system_value(values: tuple[int, ...]) -> SystemValue | None:
    if not values:
        return None
    code = values[0]
    return SystemValue(code) if code <= 10 else None


# --- signatures --------------------------------------------------------------------------------------

_SV_COLUMN = {
    "NONE": SystemValue.UNDEFINED, "POS": SystemValue.POSITION, "CLIPDST": SystemValue.CLIP_DISTANCE,
    "CULLDST": SystemValue.CULL_DISTANCE, "RTINDEX": SystemValue.RENDER_TARGET_ARRAY_INDEX,
    "VPINDEX": SystemValue.VIEWPORT_ARRAY_INDEX, "VERTID": SystemValue.VERTEX_ID,
    "PRIMID": SystemValue.PRIMITIVE_ID, "INSTID": SystemValue.INSTANCE_ID, "FFACE": SystemValue.IS_FRONT_FACE,
    "SAMPLE": SystemValue.SAMPLE_INDEX, "QUADEDGE": SystemValue.FINAL_QUAD_EDGE_TESSFACTOR,
    "QUADINT": SystemValue.FINAL_QUAD_INSIDE_TESSFACTOR, "TRIEDGE": SystemValue.FINAL_TRI_EDGE_TESSFACTOR,
    "TRIINT": SystemValue.FINAL_TRI_INSIDE_TESSFACTOR, "LINEDET": SystemValue.FINAL_LINE_DETAIL_TESSFACTOR,
    "LINEDEN": SystemValue.FINAL_LINE_DENSITY_TESSFACTOR, "TARGET": SystemValue.TARGET,
    "DEPTH": SystemValue.DEPTH, "COVERAGE": SystemValue.COVERAGE, "DEPTHGE": SystemValue.DEPTH_GREATER_EQUAL,
    "DEPTHLE": SystemValue.DEPTH_LESS_EQUAL, "STENCILREF": SystemValue.STENCIL_REF,
    "INNERCOV": SystemValue.INNER_COVERAGE,
}
_FORMATS = {"float": ComponentType.FLOAT32, "uint": ComponentType.UINT32, "int": ComponentType.SINT32,
            "unknown": ComponentType.UNKNOWN}
#: Semantic names that carry a system value (signature D3D_NAME), case-insensitive.
SEMANTIC_SYSTEM_VALUES = {
    "SV_POSITION": SystemValue.POSITION, "SV_CLIPDISTANCE": SystemValue.CLIP_DISTANCE,
    "SV_CULLDISTANCE": SystemValue.CULL_DISTANCE, "SV_RENDERTARGETARRAYINDEX": SystemValue.RENDER_TARGET_ARRAY_INDEX,
    "SV_VIEWPORTARRAYINDEX": SystemValue.VIEWPORT_ARRAY_INDEX, "SV_VERTEXID": SystemValue.VERTEX_ID,
    "SV_PRIMITIVEID": SystemValue.PRIMITIVE_ID, "SV_INSTANCEID": SystemValue.INSTANCE_ID,
    "SV_ISFRONTFACE": SystemValue.IS_FRONT_FACE, "SV_SAMPLEINDEX": SystemValue.SAMPLE_INDEX,
    "SV_TARGET": SystemValue.TARGET, "SV_DEPTH": SystemValue.DEPTH, "SV_COVERAGE": SystemValue.COVERAGE,
    "SV_DEPTHGREATEREQUAL": SystemValue.DEPTH_GREATER_EQUAL, "SV_DEPTHLESSEQUAL": SystemValue.DEPTH_LESS_EQUAL,
    "SV_STENCILREF": SystemValue.STENCIL_REF,
}
_SCALAR_OUTPUT_REGISTERS = {"odepth", "omask", "odepthge", "odepthle", "ostencilref"}
NO_REGISTER = 0xFFFFFFFF


def _mask(text: str) -> int:
    return sum(1 << i for i, c in enumerate(_MASK_LETTERS) if c in text)


def _table_row(line: _Line, raw: str, role: str) -> SignatureElement:
    """One row of fxc's table, read by its words: the name, index, mask (letters, maybe
    spaced: "x z"), register, system value, format and used (maybe spaced or blank). Long
    names push the columns right, so the dashed line's column positions are not trusted."""
    words = raw.split()
    formats = [i for i, w in enumerate(words) if w.lower() in _FORMATS and i >= 4]
    if len(words) < 6 or not formats or not words[1].isdigit():
        raise _fail(line, 0, f"cannot read signature row {raw.strip()!r} "
                             "(Name Index Mask Register SysValue Format Used)")
    at = formats[-1]
    name, index, mask_text = words[0], int(words[1]), "".join(words[2:at - 2])
    register_text, sv_text, fmt, used = words[at - 2], words[at - 1], words[at], "".join(words[at + 1:])
    try:
        system_value = SystemValue(int(sv_text)) if sv_text.isdigit() else _SV_COLUMN[sv_text.upper()]
    except (KeyError, ValueError):
        raise _fail(line, 0, f"unknown system value {sv_text!r} in signature row {raw.strip()!r}") from None
    if mask_text == "N/A":  # oDepth and friends: no register, one component
        mask, register = 1, NO_REGISTER
        written = 1 if used.upper() == "YES" else 0
    else:
        if not re.fullmatch(r"[xyzw]{1,4}", mask_text) or not (register_text.isdigit() or register_text == "N/A"):
            raise _fail(line, 0, f"cannot read signature row {raw.strip()!r}")
        mask = _mask(mask_text)
        register = NO_REGISTER if register_text == "N/A" else int(register_text)
        written = _mask(used)
    return SignatureElement(name, index, system_value, _FORMATS[fmt.lower()], register, mask,
                            _rw_mask(role, written))


def _rw_mask(role: str, used: int) -> int:
    """The chunk's byte: inputs, the components read; outputs, those never written (fxc sets
    every bit outside the written ones, the element's unused components too)."""
    return used if role == "inputs" else 0xF & ~used


def _compact_row(line: _Line, role: str, text: str) -> SignatureElement:
    """`NAME INDEX MASK REGISTER FORMAT [USED]`, e.g. `TEXCOORD 0 xy v1 float`."""
    parts = text.split()
    if len(parts) not in (5, 6):
        raise _fail(line, 0, "a signature line is NAME INDEX MASK REGISTER FORMAT [USED], "
                             "e.g. // in: TEXCOORD 0 xy v1 float")
    name, index, mask_text, register_text, fmt = parts[:5]
    if not index.isdigit():
        raise _fail(line, 0, f"semantic index {index!r} is not a number")
    if not re.fullmatch(r"[xyzw]{1,4}", mask_text):
        raise _fail(line, 0, f"bad signature mask {mask_text!r}")
    if fmt.lower() not in _FORMATS:
        raise _fail(line, 0, f"unknown format {fmt!r} (float, uint, int)")
    mask = _mask(mask_text)
    used = _mask(parts[5]) if len(parts) == 6 else mask
    if register_text.lower() in _SCALAR_OUTPUT_REGISTERS:
        register = NO_REGISTER
    else:
        found = re.fullmatch(r"[vo]?([0-9]+)", register_text)
        if not found:
            raise _fail(line, 0, f"bad signature register {register_text!r}")
        register = int(found.group(1))
    system_value = SEMANTIC_SYSTEM_VALUES.get(name.upper(), SystemValue.UNDEFINED)
    return SignatureElement(name, int(index), system_value, _FORMATS[fmt.lower()], register, mask,
                            _rw_mask(role, used))


_DERIVED_NAMES = {1: "SV_Position", 2: "SV_ClipDistance", 3: "SV_CullDistance", 4: "SV_RenderTargetArrayIndex",
                  5: "SV_ViewportArrayIndex", 6: "SV_VertexID", 7: "SV_PrimitiveID", 8: "SV_InstanceID",
                  9: "SV_IsFrontFace", 10: "SV_SampleIndex"}
_UINT_SYSTEM_VALUES = frozenset({4, 5, 6, 7, 8, 9, 10})
_SCALAR_SEMANTICS = {OperandType.OUTPUT_DEPTH: "SV_Depth", OperandType.OUTPUT_COVERAGE_MASK: "SV_Coverage",
                     OperandType.OUTPUT_DEPTH_GREATER_EQUAL: "SV_DepthGreaterEqual",
                     OperandType.OUTPUT_DEPTH_LESS_EQUAL: "SV_DepthLessEqual",
                     OperandType.OUTPUT_STENCIL_REF: "SV_StencilRef"}


def derive_signatures(program: Program) -> tuple[tuple[SignatureElement, ...], tuple[SignatureElement, ...]]:
    """Input and output signatures from the dcl_input*/dcl_output* declarations."""
    inputs: list[SignatureElement] = []
    outputs: list[SignatureElement] = []
    counts: dict[tuple[bool, str], int] = {}
    for ins in program.instructions:
        is_input = ins.name.startswith("dcl_input")
        if not (is_input or ins.name.startswith("dcl_output")) or not ins.operands:
            continue
        if ins.name in ("dcl_input_control_point_count", "dcl_output_control_point_count"):
            continue
        op = ins.operands[0]
        if not is_input and op.type in _SCALAR_SEMANTICS:
            name = _SCALAR_SEMANTICS[op.type]
            fmt = ComponentType.UINT32 if op.type in (OperandType.OUTPUT_COVERAGE_MASK,
                                                      OperandType.OUTPUT_STENCIL_REF) else ComponentType.FLOAT32
            outputs.append(SignatureElement(name, 0, SEMANTIC_SYSTEM_VALUES[name.upper()], fmt, NO_REGISTER, 1,
                                            _rw_mask("outputs", 1)))
            continue
        if op.type not in (OperandType.INPUT, OperandType.OUTPUT) or len(op.indices) != 1:
            continue  # vThreadID, vCoverage, ...: no signature element
        register = op.indices[0].immediate
        code = ins.values[0] if ins.values and ins.name.endswith(("_siv", "_sgv")) else 0
        if code:
            name = _DERIVED_NAMES.get(code, f"SV_{code}")
            system_value = SystemValue(code) if code <= 10 else SystemValue.UNDEFINED
        elif not is_input and program.type == ProgramType.PIXEL:
            name, system_value = "SV_Target", SystemValue.TARGET
        else:
            name, system_value = "TEXCOORD", SystemValue.UNDEFINED
        if name in ("TEXCOORD", "SV_Target"):
            index = register
        else:
            index = counts.get((is_input, name), 0)
            counts[(is_input, name)] = index + 1
        fmt = ComponentType.UINT32 if code in _UINT_SYSTEM_VALUES else ComponentType.FLOAT32
        element = SignatureElement(name, index, system_value, fmt, register, op.mask,
                                   _rw_mask("inputs" if is_input else "outputs", op.mask))
        (inputs if is_input else outputs).append(element)
    return tuple(sorted(inputs, key=lambda e: e.register)), tuple(sorted(outputs, key=lambda e: e.register))


# --- the text -----------------------------------------------------------------------------------------

def _statements(text: str, parser: _Parser) -> list[_Line]:
    """Split the text into statements after the profile line (reading signatures before
    and anywhere as comments); a `{ ... }` block continues over lines."""
    lines = text.splitlines()
    statements: list[_Line] = []
    table: tuple[str, list[tuple[int, int]] | None] | None = None
    pending: _Line | None = None
    depth = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        comment = stripped.startswith("//")
        body = stripped[2:].strip() if comment else stripped
        compact = _SIGNATURE_LINE.match(stripped)
        if compact:
            role = {"in": "inputs", "out": "outputs", "patch": "patch_constants"}[compact.group(1).lower()]
            line = _Line(number, compact.group(2), raw.find(compact.group(2)) + 1)
            parser.signatures.setdefault(role, []).append(_compact_row(line, role, compact.group(2)))
            continue
        if (comment or parser.program_type is None) and body.lower() in _SIGNATURE_TITLES:
            table = (_SIGNATURE_TITLES[body.lower()], None)
            parser.signatures.setdefault(table[0], [])
            continue
        if table is not None and (comment or parser.program_type is None):
            content = raw[raw.index("//") + 2:] if comment else raw
            if content.startswith(" "):
                content = content[1:]
            role, columns = table
            if not content.strip():
                if columns is not None:
                    table = None
                continue
            if content.lstrip().startswith("Name"):
                continue
            if set(content.strip()) <= {"-", " "}:
                table = (role, [(m.start(), m.end()) for m in re.finditer(r"-+", content)])
                continue
            if columns is None:
                table = None
            else:
                if "no input" in content.lower() or "no output" in content.lower() or "no patch" in content.lower():
                    continue
                parser.signatures[role].append(_table_row(_Line(number, content, 1), content, role))
                continue
        if comment or not stripped:
            continue
        code = raw.split("//", 1)[0]
        if parser.program_type is None:
            found = _PROFILE.match(code.strip())
            if found:
                parser.program_type = PROGRAM_TYPES[found.group(1)]
                parser.major, parser.minor = int(found.group(2)), int(found.group(3))
                rest = code.strip()[found.end():].strip()
                if rest and not rest.startswith("_level_9") and not re.fullmatch(r"_level_9_[0-9]", rest):
                    raise _fail(_Line(number, code, 1), found.end(), f"unexpected {rest!r} after the profile")
            continue  # fxc's header, Level9 listing and the like come before the profile
        if pending is None and (code.strip().startswith("Approximately") or code.strip().startswith("#line")):
            continue
        column = len(code) - len(code.lstrip()) + 1
        if pending is None:
            pending = _Line(number, code.strip(), column)
        else:
            pending.text += " " + code.strip()
        depth += code.count("{") - code.count("}")
        if depth <= 0:
            statements.append(pending)
            pending, depth = None, 0
    if pending is not None:
        raise _fail(pending, 0, "unclosed '{'")
    return statements


def parse(text: str) -> Assembled:
    """The program and signatures the text describes (nothing encoded yet)."""
    parser = _Parser()
    statements = _statements(text, parser)
    if parser.program_type is None:
        raise ShaderInvalid("line 1, column 1: no profile line (vs_4_0, ps_5_0, cs_5_0, ...)")
    for line in statements:
        parser.statement(line)
    program = Program(type=parser.program_type, major=parser.major, minor=parser.minor,
                      instructions=tuple(parser.instructions))
    derived_inputs, derived_outputs = derive_signatures(program)
    inputs = parser.signatures.get("inputs")
    outputs = parser.signatures.get("outputs")
    return Assembled(program=program,
                     inputs=tuple(inputs) if inputs is not None else derived_inputs,
                     outputs=tuple(outputs) if outputs is not None else derived_outputs,
                     patch_constants=_patch_constants(program, parser.signatures.get("patch_constants", ())))


def _patch_constants(program: Program, elements) -> tuple[SignatureElement, ...]:
    """Patch constants are a hull shader's outputs but a domain shader's inputs; their table
    (read as outputs, like `disasm` prints it) gives a domain shader's read mask as
    `mask & ~never-written`."""
    if program.type != ProgramType.DOMAIN:
        return tuple(elements)
    return tuple(replace(e, rw_mask=e.mask & e.rw_mask) for e in elements)


def assemble(text: str) -> bytes:
    """A complete DXBC container (signatures, SHDR/SHEX, checksum) for the assembly text."""
    assembled = parse(text)
    tokens = encoder.encode(assembled.program)
    return container.build(tokens, assembled.inputs, assembled.outputs, assembled.patch_constants)
