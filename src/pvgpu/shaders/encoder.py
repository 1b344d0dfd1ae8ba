"""`ir.Program` back into an SM4/SM5 token stream: the exact inverse of `decoder.decode`.

Driven by the same `opcodes` table as the decoder: a row's layout says which operands and
dwords follow the opcode token, its controls which instruction fields go into bits 11..23.
`encode(decode(tokens)) == tokens` for every well-formed program; the assembler builds its
`ir.Instruction`s from text and calls `encode`.
"""

from __future__ import annotations

import struct

from . import opcodes
from .errors import ShaderInvalid
from .ir import Index, IndexRepresentation, Instruction, Modifier, Operand, Program, Selection

_COMPONENT_CODES = {0: 0, 1: 1, 4: 2}
#: Opcodes fxc pads with one zero dword after their operands (see decoder._PADDED).
_PADDED = frozenset({0x6E})


def _field(low: int, width: int, value: int) -> int:
    return (value & ((1 << width) - 1)) << low


def _control_bits(info: opcodes.OpcodeInfo, ins: Instruction) -> int:
    """Bits 11..23: the instruction's raw `flags`, with every bit a field describes taken
    from that field (so a decoded instruction and one built by hand both encode right)."""
    C = opcodes.Control
    bits = (ins.flags & 0x1FFF) << 11
    values: list[tuple[int, int, int]] = []
    if info.has(C.SATURATE):
        values.append((13, 1, int(ins.saturate)))
    if info.has(C.TEST):
        values.append((18, 1, int(bool(ins.test_nonzero))))
    if info.has(C.PRECISE):
        values.append((19, 4, ins.precise_mask))
    if info.has(C.RESINFO) and ins.resinfo_type is not None:
        values.append((11, 2, int(ins.resinfo_type)))
    if info.has(C.SAMPLEINFO) and ins.resinfo_type is not None:
        values.append((11, 1, int(ins.resinfo_type == 2)))
    if info.has(C.SYNC):
        values.append((11, 4, int(ins.sync_flags)))
    if info.has(C.RESOURCE) and ins.resource_dimension is not None:
        values.append((11, 5, int(ins.resource_dimension)))
        if info.number == 0x58:
            values.append((16, 7, ins.sample_count))
    if info.has(C.UAV_FLAGS):
        values.append((16, 1, int(ins.globally_coherent)))
        values.append((17, 1, int(ins.rasterizer_ordered)))
    if info.has(C.INTERPOLATION) and ins.interpolation is not None:
        values.append((11, 4, int(ins.interpolation)))
    if info.has(C.SAMPLER_MODE) and ins.sampler_mode is not None:
        values.append((11, 4, int(ins.sampler_mode)))
    if info.has(C.CB_ACCESS) and ins.dynamic_indexed is not None:
        values.append((11, 1, int(ins.dynamic_indexed)))
    for low, width, value in values:
        bits &= ~_field(low, width, -1)
        bits |= _field(low, width, value)
    return bits


def _extended_opcode_tokens(ins: Instruction) -> list[int]:
    """Sample offsets (type 1), resource dimension (2), return types (3), in fxc's order."""
    tokens = []
    if ins.sample_offsets is not None:
        token = 1
        for i, offset in enumerate(ins.sample_offsets):
            if not -8 <= offset <= 7:
                raise ShaderInvalid(f"{ins.name}: sample offset {offset} outside -8..7", ins.offset)
            token |= _field(9 + 4 * i, 4, offset)
        tokens.append(token)
    if ins.resource_dimension is not None:
        tokens.append(2 | _field(6, 5, int(ins.resource_dimension)) | _field(11, 12, ins.structure_stride or 0))
    if ins.return_types is not None:
        tokens.append(3 | _field(6, 16, _packed_return_types(ins)))
    for i in range(len(tokens) - 1):
        tokens[i] |= 1 << 31
    return tokens


def _packed_return_types(ins: Instruction) -> int:
    assert ins.return_types is not None
    return sum(int(t) << (4 * i) for i, t in enumerate(ins.return_types))


def encode_operand(operand: Operand, out: list[int]) -> None:
    """Append one operand's tokens (token, extended token, immediates, indices)."""
    try:
        code = _COMPONENT_CODES[operand.components]
    except KeyError:
        raise ShaderInvalid(f"an operand has {operand.components} components (0, 1 or 4)") from None
    token = code | _field(12, 8, int(operand.type)) | _field(20, 2, len(operand.indices))
    if operand.components == 4:
        token |= _field(2, 2, int(operand.selection))
        if operand.selection == Selection.MASK:
            token |= _field(4, 4, operand.mask)
        elif operand.selection == Selection.SWIZZLE:
            token |= sum(_field(4 + 2 * i, 2, c) for i, c in enumerate(operand.swizzle))
        else:
            token |= _field(4, 2, operand.swizzle[0])
    for i, index in enumerate(operand.indices):
        token |= _field(22 + 3 * i, 3, int(index.representation))
    extended = operand.modifier != Modifier.NONE or operand.min_precision or operand.nonuniform
    if extended:
        token |= 1 << 31
    out.append(token)
    if extended:
        out.append(1 | _field(6, 8, int(operand.modifier)) | _field(14, 3, operand.min_precision)
                   | _field(17, 1, int(operand.nonuniform)))
    out.extend(v & 0xFFFFFFFF for v in operand.values)
    for index in operand.indices:
        _encode_index(index, out)


def _encode_index(index: Index, out: list[int]) -> None:
    rep = index.representation
    if rep in (IndexRepresentation.IMMEDIATE32, IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE):
        out.append(index.immediate & 0xFFFFFFFF)
    elif rep in (IndexRepresentation.IMMEDIATE64, IndexRepresentation.IMMEDIATE64_PLUS_RELATIVE):
        out.extend(((index.immediate >> 32) & 0xFFFFFFFF, index.immediate & 0xFFFFFFFF))
    if rep in (IndexRepresentation.RELATIVE, IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE,
               IndexRepresentation.IMMEDIATE64_PLUS_RELATIVE):
        if index.relative is None:
            raise ShaderInvalid("a relative index without its register")
        encode_operand(index.relative, out)


def encode_instruction(ins: Instruction, major: int, minor: int) -> list[int]:
    """The dwords of one instruction or declaration."""
    info = opcodes.by_number(ins.opcode)
    if info is None:
        raise ShaderInvalid(f"unknown opcode {ins.opcode:#x}", ins.offset)
    if info.has(opcodes.Control.CUSTOM_DATA):
        return [info.number | (ins.flags << 11), len(ins.data) + 2, *(d & 0xFFFFFFFF for d in ins.data)]
    body: list[int] = []
    extended = [] if info.is_declaration else _extended_opcode_tokens(ins)
    body.extend(extended)
    operands = iter(ins.operands)
    values = iter(ins.values)
    for item in opcodes.layout_for(info, major, minor):
        if item == "#...":
            body.extend(values)
        elif item.startswith("#"):
            value = next(values, None)
            if value is None:
                raise ShaderInvalid(f"{ins.name}: missing its {item[1:]} value", ins.offset)
            body.append(value & 0xFFFFFFFF)
        else:
            operand = next(operands, None)
            if operand is None:
                raise ShaderInvalid(f"{ins.name}: takes {len(info.operands)} operands, "
                                    f"has {len(ins.operands)}", ins.offset)
            encode_operand(operand, body)
    if next(operands, None) is not None:
        raise ShaderInvalid(f"{ins.name}: takes {len(info.operands)} operands, has {len(ins.operands)}",
                            ins.offset)
    if info.number in _PADDED:
        body.append(0)
    length = len(body) + 1
    if length > 127:
        raise ShaderInvalid(f"{ins.name}: {length} dwords, more than an instruction can hold", ins.offset)
    token = info.number | _control_bits(info, ins) | (length << 24) | ((1 << 31) if extended else 0)
    return [token, *body]


def encode(program: Program) -> bytes:
    """The SHDR/SHEX chunk body: version token, length token, every instruction."""
    words: list[int] = []
    for ins in program.instructions:
        words.extend(encode_instruction(ins, program.major, program.minor))
    version = (int(program.type) << 16) | (program.major << 4) | program.minor
    return struct.pack(f"<{len(words) + 2}I", version, len(words) + 2, *words)


__all__ = ["encode", "encode_instruction", "encode_operand"]
