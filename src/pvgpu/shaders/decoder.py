"""The SM4/SM5 token stream (a SHDR/SHEX chunk body) decoded into `ir.Program`.

Driven by `opcodes`: each row's layout says which operands and dwords follow the opcode
token. The guest is hostile, so every read is bounds-checked against the instruction's own
length, every enum is checked, and absurd sizes are refused; problems raise `ShaderInvalid`
(or `ShaderUnsupported` for a well-formed program of a model pvgpu does not take) naming the
token offset of the instruction. After each instruction, register numbers are checked against
the declarations before it and D3D11's register-file sizes, and flow control must nest.

`Instruction.values` of a declaration holds all its plain dwords in token order (also those
decoded into a field: a resource's packed return type, a `_siv`'s D3D10_SB_NAME number).
Relative indices keep their representation: fxc writes RELATIVE when the immediate part is 0
(`r0.x + 0`) and IMMEDIATE32_PLUS_RELATIVE otherwise.
"""

from __future__ import annotations

import dataclasses
import struct

from . import opcodes
from .errors import ShaderInvalid, ShaderUnsupported
from .ir import (Index, IndexRepresentation, Instruction, Interpolation, Modifier, Operand, OperandType,
                 Program, ProgramType, ResInfoType, ResourceDimension, ReturnType, SamplerMode, Selection,
                 SyncFlag, SystemValue)

MAX_TEMPS = 4096
MAX_INDEXABLE_TEMP_VALUES = 4096 * 4
MAX_CONSTANT_BUFFER_VECTORS = 4096
MAX_ICB_DWORDS = 4096 * 4
MAX_TGSM_BYTES = 32768
MAX_THREADS_PER_GROUP = 1024
MAX_RELATIVE_DEPTH = 4
MAX_INSTRUCTIONS = 65536  # real shaders stay far below; a bound on the work one blob can buy
MAX_EXTENDED_TOKENS = 4
MAX_NESTING = 64
_SEEN_LIMIT = 16384

_COMPONENTS = {0: 0, 1: 1, 2: 4}
_INDEX_REPRESENTATIONS = {r.value: r for r in IndexRepresentation}
_OPERAND_TYPES = {t.value: t for t in OperandType}
_RETURN_TYPES = {t.value: t for t in ReturnType}
#: D3D10_SB_NAME (declarations) -> D3D_NAME (ir.SystemValue): the numbers agree up to 10; the
#: tessellation factors are per edge in declarations (the raw number stays in `values`).
_DECLARATION_NAMES = {**{v: SystemValue(v) for v in range(11)},
                      **{v: SystemValue.FINAL_QUAD_EDGE_TESSFACTOR for v in range(11, 15)},
                      15: SystemValue.FINAL_QUAD_INSIDE_TESSFACTOR, 16: SystemValue.FINAL_QUAD_INSIDE_TESSFACTOR,
                      **{v: SystemValue.FINAL_TRI_EDGE_TESSFACTOR for v in range(17, 20)},
                      20: SystemValue.FINAL_TRI_INSIDE_TESSFACTOR, 21: SystemValue.FINAL_LINE_DETAIL_TESSFACTOR,
                      22: SystemValue.FINAL_LINE_DENSITY_TESSFACTOR}
_DIMENSIONS = {d.value: d for d in ResourceDimension}


def _defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls)}


_INSTRUCTION_DEFAULTS = _defaults(Instruction)
_OPERAND_DEFAULTS = _defaults(Operand)


_set_attribute = object.__setattr__


def _build(cls, defaults: dict, fields: dict):
    """A frozen IR object without its generated __init__ (a frozen dataclass sets each of its
    fields through object.__setattr__, which made construction most of the decoding time)."""
    obj = object.__new__(cls)
    _set_attribute(obj, "__dict__", {**defaults, **fields})
    return obj


def _bits(token: int, low: int, count: int) -> int:
    return (token >> low) & ((1 << count) - 1)


def _signed4(value: int) -> int:
    return value - 16 if value & 8 else value


class _Reader:
    """Dwords of one instruction, never read past `end`."""

    def __init__(self, words: tuple[int, ...], start: int, end: int, where: int, name: str):
        self.words = words
        self.pos = start
        self.end = end
        self.where = where
        self.name = name

    def fail(self, message: str) -> ShaderInvalid:
        return ShaderInvalid(f"{self.name}: {message}", self.where)

    def take(self, what: str) -> int:
        if self.pos >= self.end:
            raise self.fail(f"{what} runs past the end of the instruction")
        value = self.words[self.pos]
        self.pos += 1
        return value


def _enum(table: dict, value: int, what: str, reader: _Reader):
    try:
        return table[value]
    except KeyError:
        raise reader.fail(f"unknown {what} {value}") from None


def _return_types(packed: int, reader: _Reader) -> tuple[ReturnType, ReturnType, ReturnType, ReturnType]:
    return tuple(_enum(_RETURN_TYPES, _bits(packed, 4 * i, 4), "resource return type", reader)
                 for i in range(4))  # type: ignore[return-value]


def _operand(reader: _Reader, depth: int = 0) -> Operand:
    if depth > MAX_RELATIVE_DEPTH:
        raise reader.fail("relative indices nested too deeply")
    token = reader.take("operand token")
    component_code = _bits(token, 0, 2)
    if component_code not in _COMPONENTS:
        raise reader.fail("N-component operands do not exist in SM4/5")
    components = _COMPONENTS[component_code]
    selection, mask, swizzle = Selection.MASK, 0b0001, (0, 0, 0, 0)
    if components == 4:
        mode = _bits(token, 2, 2)
        if mode == Selection.MASK:
            mask = _bits(token, 4, 4)
        elif mode == Selection.SWIZZLE:
            selection = Selection.SWIZZLE
            swizzle = tuple(_bits(token, 4 + 2 * i, 2) for i in range(4))  # type: ignore[assignment]
            mask = 0b1111
        elif mode == Selection.SELECT1:
            selection = Selection.SELECT1
            c = _bits(token, 4, 2)
            swizzle, mask = (c, c, c, c), 1 << c
        else:
            raise reader.fail("operand component selection mode 3 is not defined")
    elif components == 0:
        mask = 0
    operand_type = _enum(_OPERAND_TYPES, _bits(token, 12, 8), "operand type", reader)
    dimension = _bits(token, 20, 2)
    representations = [_bits(token, 22 + 3 * i, 3) for i in range(dimension)]

    modifier, min_precision, nonuniform = Modifier.NONE, 0, False
    extended = bool(token >> 31)
    count = 0
    while extended:
        count += 1
        if count > MAX_EXTENDED_TOKENS:
            raise reader.fail("too many extended operand tokens")
        ext = reader.take("extended operand token")
        extended = bool(ext >> 31)
        kind = _bits(ext, 0, 6)
        if kind == 0:
            continue
        if kind != 1:
            raise reader.fail(f"unknown extended operand token type {kind}")
        code = _bits(ext, 6, 8)
        if code > 3:
            raise reader.fail(f"unknown operand modifier {code}")
        modifier = Modifier(code)
        min_precision = _bits(ext, 14, 3)
        nonuniform = bool(_bits(ext, 17, 1))

    values: tuple[int, ...] = ()
    if operand_type in (OperandType.IMMEDIATE32, OperandType.IMMEDIATE64):
        if components == 0:
            raise reader.fail("an immediate operand has no components")
        if dimension:
            raise reader.fail("an immediate operand has an index")
        width = 2 if operand_type == OperandType.IMMEDIATE64 and components == 1 else components
        values = tuple(reader.take("immediate value") for _ in range(width))

    indices = []
    for representation_code in representations:
        representation = _enum(_INDEX_REPRESENTATIONS, representation_code, "index representation", reader)
        immediate, relative = 0, None
        if representation in (IndexRepresentation.IMMEDIATE32, IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE):
            immediate = reader.take("register index")
        elif representation in (IndexRepresentation.IMMEDIATE64, IndexRepresentation.IMMEDIATE64_PLUS_RELATIVE):
            high = reader.take("register index")
            immediate = (high << 32) | reader.take("register index")
        if representation in (IndexRepresentation.RELATIVE, IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE,
                              IndexRepresentation.IMMEDIATE64_PLUS_RELATIVE):
            relative = _operand(reader, depth + 1)
            if relative.type in (OperandType.IMMEDIATE32, OperandType.IMMEDIATE64):
                raise reader.fail("a relative index must be a register")
            if relative.components == 4 and relative.selection != Selection.SELECT1:
                raise reader.fail("a relative index must select one component")
        indices.append(Index(immediate, relative, representation))

    return _build(Operand, _OPERAND_DEFAULTS, {
        "type": operand_type, "components": components, "selection": selection, "mask": mask,
        "swizzle": swizzle, "indices": tuple(indices), "values": values, "modifier": modifier,
        "min_precision": min_precision, "nonuniform": nonuniform})


def _extended_opcode_tokens(reader: _Reader, fields: dict) -> None:
    count = 0
    extended = True
    while extended:
        count += 1
        if count > MAX_EXTENDED_TOKENS:
            raise reader.fail("too many extended opcode tokens")
        token = reader.take("extended opcode token")
        extended = bool(token >> 31)
        kind = _bits(token, 0, 6)
        if kind == 1:
            fields["sample_offsets"] = tuple(_signed4(_bits(token, 9 + 4 * i, 4)) for i in range(3))
        elif kind == 2:
            fields["resource_dimension"] = _enum(_DIMENSIONS, _bits(token, 6, 5), "resource dimension", reader)
            stride = _bits(token, 11, 12)
            if stride:
                fields["structure_stride"] = stride
        elif kind == 3:
            fields["return_types"] = _return_types(_bits(token, 6, 16), reader)
        else:
            raise reader.fail(f"unknown extended opcode token type {kind}")


_C = opcodes.Control
_CUSTOM_DATA = opcodes.by_name("customdata").number
_DECLARATIONS = frozenset(info.number for info in opcodes.OPCODES if info.is_declaration)
_CONTROL_BITS = {info.number: info.controls.value for info in opcodes.OPCODES}
_SATURATE, _TEST, _PRECISE = _C.SATURATE.value, _C.TEST.value, _C.PRECISE.value
_RARE_CONTROLS = (_C.RESINFO | _C.SAMPLEINFO | _C.SYNC | _C.RESOURCE | _C.UAV_FLAGS | _C.INTERPOLATION
                  | _C.SAMPLER_MODE | _C.CB_ACCESS).value


def _control_fields(info: opcodes.OpcodeInfo, token: int, reader: _Reader, fields: dict) -> None:
    """The opcode token's control bits 11..23, as the row's controls say."""
    bits = _CONTROL_BITS[info.number]
    if bits & _SATURATE:
        fields["saturate"] = bool(_bits(token, 13, 1))
    if bits & _TEST:
        fields["test_nonzero"] = bool(_bits(token, 18, 1))
    if bits & _PRECISE:
        fields["precise_mask"] = _bits(token, 19, 4)
    if not bits & _RARE_CONTROLS:
        return
    C = _C
    if info.has(C.RESINFO):
        value = _bits(token, 11, 2)
        if value > 2:
            raise reader.fail(f"unknown resinfo return type {value}")
        fields["resinfo_type"] = ResInfoType(value)
    if info.has(C.SAMPLEINFO):
        fields["resinfo_type"] = ResInfoType.UINT if _bits(token, 11, 1) else ResInfoType.FLOAT
    if info.has(C.SYNC):
        fields["sync_flags"] = SyncFlag(_bits(token, 11, 4))
    if info.has(C.RESOURCE):
        fields["resource_dimension"] = _enum(_DIMENSIONS, _bits(token, 11, 5), "resource dimension", reader)
        if info.number == 0x58:
            fields["sample_count"] = _bits(token, 16, 7)
    if info.has(C.UAV_FLAGS):
        fields["globally_coherent"] = bool(_bits(token, 16, 1))
        fields["rasterizer_ordered"] = bool(_bits(token, 17, 1))
    if info.has(C.INTERPOLATION):
        value = _bits(token, 11, 4)
        if value > 7:
            raise reader.fail(f"unknown interpolation mode {value}")
        fields["interpolation"] = Interpolation(value)
    if info.has(C.SAMPLER_MODE):
        value = _bits(token, 11, 4)
        if value > 2:
            raise reader.fail(f"unknown sampler mode {value}")
        fields["sampler_mode"] = SamplerMode(value)
    if info.has(C.CB_ACCESS):
        fields["dynamic_indexed"] = bool(_bits(token, 11, 1))


def _declaration_checks(info: opcodes.OpcodeInfo, fields: dict, values: dict[str, int],
                        operands: list[Operand], reader: _Reader) -> None:
    """Limits against absurd declarations, and payload that maps to IR fields."""
    name = info.name
    if name == "dcl_temps" and values["count"] > MAX_TEMPS:
        raise reader.fail(f"{values['count']} temps (at most {MAX_TEMPS})")
    if name == "dcl_indexableTemp":
        if not 1 <= values["components"] <= 4:
            raise reader.fail(f"{values['components']} components per indexable temp (1 to 4)")
        if values["size"] * values["components"] > MAX_INDEXABLE_TEMP_VALUES or values["register"] > MAX_TEMPS:
            raise reader.fail(f"indexable temp x{values['register']}[{values['size']}] is too large")
    if name == "dcl_thread_group":
        x, y, z = values["x"], values["y"], values["z"]
        if min(x, y, z) < 1 or x * y * z > MAX_THREADS_PER_GROUP or z > 64:
            raise reader.fail(f"thread group {x}x{y}x{z} is outside D3D11's limits")
    if name == "dcl_tgsm_raw" and (values["byte_count"] > MAX_TGSM_BYTES or values["byte_count"] % 4):
        raise reader.fail(f"{values['byte_count']} bytes of group-shared memory")
    if name == "dcl_tgsm_structured" and values["stride"] * values["count"] > MAX_TGSM_BYTES:
        raise reader.fail(f"{values['stride']}x{values['count']} bytes of group-shared memory")
    if name == "dcl_constantbuffer" and operands and len(operands[0].indices) == 2:
        size = operands[0].indices[1].immediate
        if size > MAX_CONSTANT_BUFFER_VECTORS:
            raise reader.fail(f"constant buffer of {size} vectors (at most {MAX_CONSTANT_BUFFER_VECTORS})")
    if "stride" in values:
        if values["stride"] % 4 or values["stride"] > 2048:
            raise reader.fail(f"structure stride {values['stride']}")
        fields["structure_stride"] = values["stride"]
    if "return_type" in values:
        fields["return_types"] = _return_types(values["return_type"], reader)
    if "system_value" in values:
        fields["system_value"] = _enum(_DECLARATION_NAMES, values["system_value"], "system value", reader)
    if name in ("dcl_resource_raw", "dcl_uav_raw"):
        fields["resource_dimension"] = ResourceDimension.RAW_BUFFER
    if name in ("dcl_resource_structured", "dcl_uav_structured"):
        fields["resource_dimension"] = ResourceDimension.STRUCTURED_BUFFER


#: fxc writes `samplepos` one dword longer than its operands (a zero); the padding is accepted.
_PADDED = frozenset({0x6E})


_T = OperandType
_INPUTS = frozenset(t for t in OperandType if t.name.startswith("INPUT")) | {
    _T.OUTPUT_CONTROL_POINT_ID, _T.OUTPUT_CONTROL_POINT, _T.INNER_COVERAGE, _T.CYCLE_COUNTER}
_OUTPUTS = frozenset({_T.OUTPUT, _T.OUTPUT_DEPTH, _T.OUTPUT_DEPTH_GREATER_EQUAL, _T.OUTPUT_DEPTH_LESS_EQUAL,
                      _T.OUTPUT_COVERAGE_MASK, _T.OUTPUT_STENCIL_REF})
#: What a declaration may declare (the writer relies on a dcl_sampler naming a sampler).
_DECLARED = {
    "dcl_resource": {_T.RESOURCE}, "dcl_resource_raw": {_T.RESOURCE}, "dcl_resource_structured": {_T.RESOURCE},
    "dcl_sampler": {_T.SAMPLER}, "dcl_constantbuffer": {_T.CONSTANT_BUFFER},
    "dcl_uav_typed": {_T.UNORDERED_ACCESS_VIEW}, "dcl_uav_raw": {_T.UNORDERED_ACCESS_VIEW},
    "dcl_uav_structured": {_T.UNORDERED_ACCESS_VIEW}, "dcl_tgsm_raw": {_T.THREAD_GROUP_SHARED_MEMORY},
    "dcl_tgsm_structured": {_T.THREAD_GROUP_SHARED_MEMORY}, "dcl_stream": {_T.STREAM},
    "dcl_input": _INPUTS, "dcl_input_sgv": _INPUTS, "dcl_input_siv": _INPUTS, "dcl_input_ps": _INPUTS,
    "dcl_input_ps_sgv": _INPUTS, "dcl_input_ps_siv": _INPUTS,
    "dcl_output": _OUTPUTS, "dcl_output_sgv": _OUTPUTS, "dcl_output_siv": _OUTPUTS,
    "dcl_indexrange": _INPUTS | _OUTPUTS,
}
#: Register files an operand of a given layout item may name (items not listed: any register).
_KIND_TYPES = {
    "Sr": {_T.RESOURCE, _T.UNORDERED_ACCESS_VIEW, _T.THREAD_GROUP_SHARED_MEMORY, _T.RASTERIZER},
    "Dr": {_T.UNORDERED_ACCESS_VIEW, _T.THREAD_GROUP_SHARED_MEMORY},
    "Ss": {_T.SAMPLER},
}
_WRITABLE = _OUTPUTS | {_T.TEMP, _T.INDEXABLE_TEMP, _T.NULL, _T.OUTPUT_CONTROL_POINT}
#: Register files numbered by their first index: a declaration of one without it is malformed.
_NUMBERED = frozenset({_T.RESOURCE, _T.SAMPLER, _T.CONSTANT_BUFFER, _T.UNORDERED_ACCESS_VIEW,
                       _T.THREAD_GROUP_SHARED_MEMORY, _T.STREAM, _T.INPUT, _T.OUTPUT, _T.TEMP,
                       _T.INDEXABLE_TEMP})


def _article(kind: OperandType) -> str:
    name = kind.name.lower()
    return ("an " if name[0] in "aeiou" else "a ") + name


def _check_kind(item: str, operand: Operand, info: opcodes.OpcodeInfo, reader: _Reader) -> None:
    """The operand names a register file its place in the instruction allows."""
    kind = operand.type
    if item[0] == "O":
        allowed = _DECLARED.get(info.name)
        if allowed is not None and kind not in allowed:
            raise reader.fail(f"cannot declare a {kind.name.lower()} operand")
        if kind in _NUMBERED and not operand.indices:
            raise reader.fail(f"{kind.name.lower()} operand without a register number")
        return
    allowed = _KIND_TYPES.get(item)
    if allowed is not None and kind not in allowed:
        raise reader.fail(f"{_article(kind)} operand where a {'sampler' if item == 'Ss' else 'resource'} goes")
    if item[0] == "D" and item != "Dr" and kind not in _WRITABLE:
        raise reader.fail(f"{_article(kind)} operand cannot be written")
    if kind in _NUMBERED and not operand.indices:
        raise reader.fail(f"{kind.name.lower()} operand without a register number")


def _instruction(words: tuple[int, ...], pos: int, program_end: int, major: int, minor: int) -> tuple[Instruction, int]:
    token = words[pos]
    number = token & 0x7FF
    info = opcodes.by_number(number)
    if info is None:
        raise ShaderInvalid(f"unknown opcode {number:#x}", pos)
    if number == _CUSTOM_DATA:
        if pos + 1 >= program_end:
            raise ShaderInvalid("custom data block without its length", pos)
        length = words[pos + 1]
        if length < 2:
            raise ShaderInvalid(f"custom data block of {length} dwords", pos)
    else:
        length = _bits(token, 24, 7)
        if length == 0:
            raise ShaderInvalid(f"{info.name}: instruction length 0", pos)
    end = pos + length
    if end > program_end:
        raise ShaderInvalid(f"{info.name}: instruction of {length} dwords runs past the end of the program", pos)
    reader = _Reader(words, pos + 1, end, pos, info.name)
    fields: dict = {"flags": _bits(token, 11, 13)}
    name = info.name

    if number == _CUSTOM_DATA:
        data_class = token >> 11
        name = opcodes.CUSTOM_DATA_CLASSES.get(data_class, "customdata")
        data = words[pos + 2:end]
        if data_class == opcodes.IMMEDIATE_CONSTANT_BUFFER and (len(data) % 4 or len(data) > MAX_ICB_DWORDS):
            raise ShaderInvalid(f"immediate constant buffer of {len(data)} dwords (a multiple of 4, "
                                f"at most {MAX_ICB_DWORDS})", pos)
        fields["flags"] = data_class
        fields.update(name=name, opcode=number, offset=pos, data=tuple(data))
        return _build(Instruction, _INSTRUCTION_DEFAULTS, fields), end

    if token >> 31:
        if number in _DECLARATIONS:
            raise reader.fail("declarations take no extended opcode token")
        _extended_opcode_tokens(reader, fields)
    _control_fields(info, token, reader, fields)

    operands: list[Operand] = []
    values: dict[str, int] = {}
    trailing: list[int] = []
    for item in opcodes.layout_for(info, major, minor):
        if item == "#...":
            while reader.pos < reader.end:
                trailing.append(reader.take("value"))
        elif item.startswith("#"):
            values[item[1:]] = reader.take(f"{item[1:]} value")
            trailing.append(values[item[1:]])
        else:
            operand = _operand(reader)
            _check_kind(item, operand, info, reader)
            operands.append(operand)
    if number in _PADDED and all(words[p] == 0 for p in range(reader.pos, end)):
        reader.pos = end
    if reader.pos != end:
        raise reader.fail(f"instruction length {length} disagrees with its operands "
                          f"({reader.pos - pos} dwords)")
    if number in _DECLARATIONS:
        _declaration_checks(info, fields, values, operands, reader)
    fields.update(name=name, opcode=number, offset=pos, operands=tuple(operands), values=tuple(trailing))
    return _build(Instruction, _INSTRUCTION_DEFAULTS, fields), end


#: Register files of a fixed size in D3D11 (register number = last index for 2-D inputs).
_REGISTER_LIMITS = {
    OperandType.INPUT: 32, OperandType.OUTPUT: 32, OperandType.SAMPLER: 16, OperandType.RESOURCE: 128,
    OperandType.CONSTANT_BUFFER: 15, OperandType.UNORDERED_ACCESS_VIEW: 64, OperandType.STREAM: 4,
}
#: In shader model 5.1 these are indexed by range id and space, not by slot.
_SM51_RANGED = frozenset({OperandType.SAMPLER, OperandType.RESOURCE, OperandType.CONSTANT_BUFFER,
                          OperandType.UNORDERED_ACCESS_VIEW})


class _Registers:
    """What the declarations so far make addressable: temps, x#, g#."""

    def __init__(self, sm51: bool):
        self.temps = 0
        self.indexable: set[int] = set()
        self.shared: set[int] = set()
        self.sm51 = sm51

    def declare(self, ins: Instruction) -> None:
        if ins.opcode not in _DECLARATIONS:
            return
        if ins.name == "dcl_temps":
            self.temps = max(self.temps, ins.values[0])
        elif ins.name == "dcl_indexableTemp":
            self.indexable.add(ins.values[0])
        elif ins.name in ("dcl_tgsm_raw", "dcl_tgsm_structured") and ins.operands[0].indices:
            self.shared.add(ins.operands[0].indices[0].immediate)

    def check(self, operand: Operand, ins: Instruction) -> None:
        for index in operand.indices:
            if index.relative is not None:
                self.check(index.relative, ins)
        if not operand.indices or operand.indices[0].relative is not None:
            return
        number = operand.indices[0].immediate
        kind = operand.type
        problem = None
        if kind == OperandType.TEMP and number >= self.temps:
            problem = f"r{number} used but dcl_temps declares {self.temps}"
        elif kind == OperandType.INDEXABLE_TEMP and number not in self.indexable:
            problem = f"x{number} used but not declared"
        elif kind == OperandType.THREAD_GROUP_SHARED_MEMORY and number not in self.shared:
            problem = f"g{number} used but not declared"
        elif kind in _REGISTER_LIMITS and not (self.sm51 and kind in _SM51_RANGED):
            last = operand.indices[-1] if kind == OperandType.INPUT else operand.indices[0]
            if last.relative is None and last.immediate >= _REGISTER_LIMITS[kind]:
                problem = f"{kind.name.lower()} register {last.immediate} (at most {_REGISTER_LIMITS[kind] - 1})"
            elif kind == OperandType.CONSTANT_BUFFER and len(operand.indices) == 2:
                row = operand.indices[1]
                if row.relative is None and row.immediate >= MAX_CONSTANT_BUFFER_VECTORS:
                    problem = f"cb{number}[{row.immediate}] is past the largest constant buffer"
        if problem:
            raise ShaderInvalid(f"{ins.name}: {problem}", ins.offset)


_BLOCK_ENDS = {"endif": ("if", "else"), "endloop": ("loop",), "endswitch": ("switch",)}
_PHASES = frozenset({"hs_decls", "hs_control_point_phase", "hs_fork_phase", "hs_join_phase"})
_FLOW = frozenset({"if", "loop", "switch", "else", "case", "default", "break", "breakc", "continue",
                   "continuec", "label"}) | frozenset(_BLOCK_ENDS) | _PHASES


class _Blocks:
    """Flow control must nest properly and not too deeply (D3D11 allows 64 levels), so a
    translator can walk it without surprises."""

    def __init__(self) -> None:
        self.open: list[str] = []

    def step(self, ins: Instruction) -> None:
        name = ins.name
        if name not in _FLOW:
            return
        if name in ("if", "loop", "switch"):
            if len(self.open) >= MAX_NESTING:
                raise ShaderInvalid(f"{name}: flow control nested deeper than {MAX_NESTING}", ins.offset)
            self.open.append(name)
        elif name == "else":
            if not self.open or self.open[-1] != "if":
                raise ShaderInvalid("else without if", ins.offset)
            self.open[-1] = "else"
        elif name in _BLOCK_ENDS:
            if not self.open or self.open[-1] not in _BLOCK_ENDS[name]:
                raise ShaderInvalid(f"{name} without its {_BLOCK_ENDS[name][0]}", ins.offset)
            self.open.pop()
        elif name in ("case", "default") and (not self.open or self.open[-1] != "switch"):
            raise ShaderInvalid(f"{name} outside a switch", ins.offset)
        elif name in ("break", "breakc") and not ({"loop", "switch"} & set(self.open)):
            raise ShaderInvalid(f"{name} outside a loop or switch", ins.offset)
        elif name in ("continue", "continuec") and "loop" not in self.open:
            raise ShaderInvalid(f"{name} outside a loop", ins.offset)
        elif name in _PHASES or name == "label":
            self.finish(ins.offset)

    def finish(self, offset: int) -> None:
        if self.open:
            raise ShaderInvalid(f"{self.open[-1]} block not closed", offset)


def decode(tokens: bytes) -> Program:
    """Decode a SHDR/SHEX chunk body: version token, length token, then the instructions."""
    size = len(tokens)
    if size % 4:
        raise ShaderInvalid(f"program chunk of {size} bytes is not a whole number of dwords")
    if size < 8:
        raise ShaderInvalid("program chunk too short for its version and length tokens")
    words = struct.unpack(f"<{size // 4}I", tokens)
    version, length = words[0], words[1]
    type_code = version >> 16
    if type_code > ProgramType.COMPUTE:
        raise ShaderInvalid(f"unknown program type {type_code}", 0)
    major, minor = _bits(version, 4, 4), _bits(version, 0, 4)
    if (major, minor) not in ((4, 0), (4, 1), (5, 0), (5, 1)):
        raise ShaderUnsupported(f"shader model {major}.{minor} (pvgpu decodes 4.0, 4.1, 5.0 and 5.1)", 0)
    if length < 2 or length > len(words):
        raise ShaderInvalid(f"program length {length} dwords outside the chunk's {len(words)}", 1)
    instructions: list[Instruction] = []
    registers = _Registers((major, minor) >= (5, 1))
    blocks = _Blocks()
    pos = 2
    seen: dict[tuple[int, ...], Instruction] = {}
    while pos < length:
        if len(instructions) >= MAX_INSTRUCTIONS:
            raise ShaderInvalid(f"more than {MAX_INSTRUCTIONS} instructions (pvgpu's limit)", pos)
        token = words[pos]
        size = (token >> 24) & 0x7F
        key = words[pos:pos + size] if size and (token & 0x7FF) != _CUSTOM_DATA else None
        earlier = seen.get(key) if key is not None else None
        if earlier is not None:
            # The same dwords decode to the same instruction: only the offset differs.
            instruction = _build(Instruction, earlier.__dict__, {"offset": pos})
            pos += size
        else:
            instruction, pos = _instruction(words, pos, length, major, minor)
            if key is not None and len(seen) < _SEEN_LIMIT:
                seen[key] = instruction
        registers.declare(instruction)
        blocks.step(instruction)
        if instruction.operands and instruction.name != "dcl_constantbuffer":
            for operand in instruction.operands:
                registers.check(operand, instruction)
        instructions.append(instruction)
    blocks.finish(length)
    return Program(type=ProgramType(type_code), major=major, minor=minor, instructions=tuple(instructions))
