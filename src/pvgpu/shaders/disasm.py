"""fxc-style assembly text of a decoded program (what `fxc /dumpbin` prints).

Operand kinds come from the opcode table; how an immediate is shown follows fxc: float
operands as `%f`, integer operands in decimal when small and in hex otherwise, untyped
operands (`mov`, `movc`) by looking at the bits.

The upper-case tables below are the assembly syntax's names for the token format's enums;
the assembler reads them to go the other way.
"""

from __future__ import annotations

import struct
from decimal import ROUND_HALF_UP, Context, Decimal

from . import opcodes
from .ir import (ComponentType, Index, Instruction, Interpolation, Modifier, Operand, OperandType, Program,
                 ResInfoType, ResourceDimension, ReturnType, SamplerMode, Selection, ShaderBlob, SignatureElement,
                 SyncFlag, SystemValue)

REGISTER_NAMES = {
    OperandType.TEMP: "r", OperandType.INPUT: "v", OperandType.OUTPUT: "o", OperandType.INDEXABLE_TEMP: "x",
    OperandType.SAMPLER: "s", OperandType.RESOURCE: "t", OperandType.CONSTANT_BUFFER: "cb",
    OperandType.IMMEDIATE_CONSTANT_BUFFER: "icb", OperandType.LABEL: "l", OperandType.INPUT_PRIMITIVEID: "vPrim",
    OperandType.OUTPUT_DEPTH: "oDepth", OperandType.NULL: "null", OperandType.RASTERIZER: "rasterizer",
    OperandType.OUTPUT_COVERAGE_MASK: "oMask", OperandType.STREAM: "m", OperandType.FUNCTION_BODY: "fb",
    OperandType.FUNCTION_TABLE: "ft", OperandType.INTERFACE: "fp", OperandType.FUNCTION_INPUT: "fi",
    OperandType.FUNCTION_OUTPUT: "fo", OperandType.OUTPUT_CONTROL_POINT_ID: "vOutputControlPointID",
    OperandType.INPUT_FORK_INSTANCE_ID: "vForkInstanceID", OperandType.INPUT_JOIN_INSTANCE_ID: "vJoinInstanceID",
    OperandType.INPUT_CONTROL_POINT: "vicp", OperandType.OUTPUT_CONTROL_POINT: "vocp",
    OperandType.INPUT_PATCH_CONSTANT: "vpc", OperandType.INPUT_DOMAIN_POINT: "vDomain",
    OperandType.THIS_POINTER: "this", OperandType.UNORDERED_ACCESS_VIEW: "u",
    OperandType.THREAD_GROUP_SHARED_MEMORY: "g", OperandType.INPUT_THREAD_ID: "vThreadID",
    OperandType.INPUT_THREAD_GROUP_ID: "vThreadGroupID", OperandType.INPUT_THREAD_ID_IN_GROUP: "vThreadIDInGroup",
    OperandType.INPUT_COVERAGE_MASK: "vCoverage",
    OperandType.INPUT_THREAD_ID_IN_GROUP_FLATTENED: "vThreadIDInGroupFlattened",
    OperandType.INPUT_GS_INSTANCE_ID: "vGSInstanceID", OperandType.OUTPUT_DEPTH_GREATER_EQUAL: "oDepthGE",
    OperandType.OUTPUT_DEPTH_LESS_EQUAL: "oDepthLE", OperandType.CYCLE_COUNTER: "vCycleCounter",
    OperandType.OUTPUT_STENCIL_REF: "oStencilRef", OperandType.INNER_COVERAGE: "vInnerCoverage",
}
#: Register files whose every index is bracketed (no register number glued to the name).
BRACKETED = frozenset({OperandType.IMMEDIATE_CONSTANT_BUFFER, OperandType.INPUT_CONTROL_POINT,
                        OperandType.OUTPUT_CONTROL_POINT, OperandType.INPUT_PATCH_CONSTANT})

DIMENSION_NAMES = {
    ResourceDimension.UNKNOWN: "unknown", ResourceDimension.BUFFER: "buffer",
    ResourceDimension.TEXTURE1D: "texture1d", ResourceDimension.TEXTURE2D: "texture2d",
    ResourceDimension.TEXTURE2DMS: "texture2dms", ResourceDimension.TEXTURE3D: "texture3d",
    ResourceDimension.TEXTURECUBE: "texturecube", ResourceDimension.TEXTURE1DARRAY: "texture1darray",
    ResourceDimension.TEXTURE2DARRAY: "texture2darray", ResourceDimension.TEXTURE2DMSARRAY: "texture2dmsarray",
    ResourceDimension.TEXTURECUBEARRAY: "texturecubearray", ResourceDimension.RAW_BUFFER: "raw_buffer",
    ResourceDimension.STRUCTURED_BUFFER: "structured_buffer",
}
RETURN_TYPE_NAMES = {
    ReturnType.UNORM: "unorm", ReturnType.SNORM: "snorm", ReturnType.SINT: "sint", ReturnType.UINT: "uint",
    ReturnType.FLOAT: "float", ReturnType.MIXED: "mixed", ReturnType.DOUBLE: "double",
    ReturnType.CONTINUED: "continued", ReturnType.UNUSED: "unused",
}
INTERPOLATION_NAMES = {
    Interpolation.UNDEFINED: "", Interpolation.CONSTANT: "constant", Interpolation.LINEAR: "linear",
    Interpolation.LINEAR_CENTROID: "linear centroid", Interpolation.LINEAR_NOPERSPECTIVE: "linear noperspective",
    Interpolation.LINEAR_NOPERSPECTIVE_CENTROID: "linear noperspective centroid",
    Interpolation.LINEAR_SAMPLE: "linear sample",
    Interpolation.LINEAR_NOPERSPECTIVE_SAMPLE: "linear noperspective sample",
}
SAMPLER_MODE_NAMES = {SamplerMode.DEFAULT: "mode_default", SamplerMode.COMPARISON: "mode_comparison",
                       SamplerMode.MONO: "mode_mono"}
#: D3D10_SB_NAME numbers of `_siv`/`_sgv` declarations (the raw dword) as fxc prints them.
SYSTEM_VALUE_NAMES = (
    "undefined", "position", "clip_distance", "cull_distance", "rendertarget_array_index",
    "viewport_array_index", "vertex_id", "primitive_id", "instance_id", "is_front_face", "sample_index",
    "finalQuadUeq0EdgeTessFactor", "finalQuadVeq0EdgeTessFactor", "finalQuadUeq1EdgeTessFactor",
    "finalQuadVeq1EdgeTessFactor", "finalQuadUInsideTessFactor", "finalQuadVInsideTessFactor",
    "finalTriUeq0EdgeTessFactor", "finalTriVeq0EdgeTessFactor", "finalTriWeq0EdgeTessFactor",
    "finalTriInsideTessFactor", "finalLineDetailTessFactor", "finalLineDensityTessFactor",
)
GLOBAL_FLAG_NAMES = ("refactoringAllowed", "enableDoublePrecisionFloatOps", "forceEarlyDepthStencil",
                      "enableRawAndStructuredBuffers", "skipOptimization", "enableMinimumPrecision",
                      "enable11_1DoubleExtensions", "enable11_1ShaderExtensions")
PRIMITIVES = {1: "point", 2: "line", 3: "triangle", 6: "lineadj", 7: "triangleadj",
               **{7 + n: f"patch{n}" for n in range(1, 33)}}
TOPOLOGIES = {1: "pointlist", 2: "linelist", 3: "linestrip", 4: "trianglelist", 5: "trianglestrip",
               10: "linelist_adj", 11: "linestrip_adj", 12: "trianglelist_adj", 13: "trianglestrip_adj"}
TESSELLATOR = {
    "dcl_tessellator_domain": {1: "domain_isoline", 2: "domain_tri", 3: "domain_quad"},
    "dcl_tessellator_partitioning": {1: "partitioning_integer", 2: "partitioning_pow2",
                                     3: "partitioning_fractional_odd", 4: "partitioning_fractional_even"},
    "dcl_tessellator_output_primitive": {1: "output_point", 2: "output_line", 3: "output_triangle_cw",
                                         4: "output_triangle_ccw"},
}
#: `sync` flags as mnemonic suffixes, in fxc's order.
SYNC_SUFFIXES = ((SyncFlag.UAV_MEMORY_GLOBAL, "_uglobal"), (SyncFlag.UAV_MEMORY_GROUP, "_ugroup"),
                 (SyncFlag.THREAD_GROUP_SHARED_MEMORY, "_g"), (SyncFlag.THREADS_IN_GROUP, "_t"))
_MICRO = Decimal("0.000001")
_WIDE = Context(prec=64)  # float32's largest value has 39 digits before the point
_OPENS = frozenset({"if", "else", "loop", "switch"})
_CLOSES = frozenset({"else", "endif", "endloop", "endswitch"})


# --- immediates -----------------------------------------------------------------------------------

def _float_text(bits: int) -> str:
    """`%f` as Microsoft's C runtime prints it: exact halves round away from zero (18.8515625
    is 18.851563, where glibc's round-half-even gives 18.851562)."""
    value = struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    if value != value or value in (float("inf"), float("-inf")):
        return "%f" % value
    text = str(Decimal(value).quantize(_MICRO, rounding=ROUND_HALF_UP, context=_WIDE))
    return "-" + text if bits >> 31 and not text.startswith("-") else text


def _int_text(bits: int) -> str:
    signed = bits - (1 << 32) if bits & 0x80000000 else bits
    if -10000 <= signed <= 10000:
        return str(signed)
    return f"0x{bits:08x}"


def immediate_text(bits: int, kind: str) -> str:
    """One 32-bit immediate as fxc shows it for an operand of type letter `kind`."""
    exponent = (bits >> 23) & 0xFF
    if kind == "f":
        return f"0x{bits:08x}" if exponent == 0xFF else _float_text(bits)
    if kind in "iu":
        return _int_text(bits)
    if exponent not in (0, 0xFF):
        return _float_text(bits)
    return str(bits) if bits <= 10000 else f"0x{bits:08x}"


def _immediate(operand: Operand, kind: str) -> str:
    if operand.type == OperandType.IMMEDIATE64:
        words = operand.values
        doubles = [struct.unpack("<d", struct.pack("<II", words[i + 1], words[i]))[0] if kind == "d"
                   else None for i in range(0, len(words) - 1, 2)]
        if kind == "d":
            return "d(" + ", ".join("%f" % d for d in doubles) + ")"
        return "d(" + ", ".join(str(w) for w in words) + ")"
    texts = [immediate_text(v, kind) for v in operand.values]
    separator = ", " if kind in "fiud" else ","
    return "l(" + separator.join(texts) + ")"


# --- registers -----------------------------------------------------------------------------------

def _index_text(index: Index) -> str:
    if index.relative is None:
        return str(index.immediate)
    return f"{operand_text(index.relative, 'i')} + {index.immediate}"


def _register(operand: Operand) -> str:
    name = REGISTER_NAMES.get(operand.type, f"reg{int(operand.type)}")
    indices = list(operand.indices)
    if operand.type in BRACKETED or not indices or indices[0].relative is not None:
        return name + "".join(f"[{_index_text(i)}]" for i in indices)
    return name + str(indices[0].immediate) + "".join(f"[{_index_text(i)}]" for i in indices[1:])


def _components(operand: Operand) -> str:
    if operand.components != 4:
        return ""
    if operand.selection == Selection.MASK:
        return "." + "".join("xyzw"[i] for i in range(4) if operand.mask >> i & 1) if operand.mask else ""
    if operand.selection == Selection.SELECT1:
        return "." + "xyzw"[operand.swizzle[0]]
    return "." + "".join("xyzw"[c] for c in operand.swizzle)


def operand_text(operand: Operand, kind: str = "x") -> str:
    """One operand: register, index, components, modifiers (or an `l(...)` immediate)."""
    if operand.type in (OperandType.IMMEDIATE32, OperandType.IMMEDIATE64):
        text = _immediate(operand, kind)
    else:
        text = _register(operand) + _components(operand)
    if operand.modifier & Modifier.ABS:
        text = f"|{text}|"
    if operand.modifier & Modifier.NEG:
        text = "-" + text
    return text


# --- instructions ----------------------------------------------------------------------------------

def _return_types_text(types) -> str:
    return "(" + ",".join(RETURN_TYPE_NAMES[t] for t in types) + ")"


def _mnemonic(ins: Instruction, info: opcodes.OpcodeInfo) -> str:
    name = ins.name
    if name == "sync":
        return name + "".join(suffix for flag, suffix in SYNC_SUFFIXES if ins.sync_flags & flag)
    if ins.sample_offsets is not None:
        name += "_aoffimmi(%d,%d,%d)" % ins.sample_offsets
    if ins.resource_dimension is not None:
        dimension = DIMENSION_NAMES[ins.resource_dimension]
        if ins.resource_dimension == ResourceDimension.STRUCTURED_BUFFER:
            dimension += f", stride={ins.structure_stride or 0}"
        name += f"_indexable({dimension})"
        if ins.return_types is not None:
            name += _return_types_text(ins.return_types)
    if ins.resinfo_type == ResInfoType.UINT:
        name += "_uint"
    elif ins.resinfo_type == ResInfoType.RCP_FLOAT:
        name += "_rcpFloat"
    if ins.saturate:
        name += "_sat"
    if ins.test_nonzero is not None:
        name += "_nz" if ins.test_nonzero else "_z"
    if ins.precise_mask:
        name += " [precise(" + "".join("xyzw"[i] for i in range(4) if ins.precise_mask >> i & 1) + ")]"
    return name


def _plain(ins: Instruction, info: opcodes.OpcodeInfo) -> str:
    kinds = info.operands
    texts = [operand_text(op, kind.type) for op, kind in zip(ins.operands, kinds)]
    if info.name == "fcall":
        texts.append(str(ins.values[0]) if ins.values else "0")
    mnemonic = _mnemonic(ins, info)
    return f"{mnemonic} {', '.join(texts)}" if texts else mnemonic


def _icb_text(ins: Instruction) -> str:
    rows = [ins.data[i:i + 4] for i in range(0, len(ins.data), 4)]
    texts = ["{ " + ", ".join(immediate_text(v, "x") for v in row) + "}" for row in rows]
    indent = " " * len("dcl_immediateConstantBuffer { ")
    return "dcl_immediateConstantBuffer { " + (",\n" + indent).join(texts) + " }"


def _declaration(ins: Instruction, info: opcodes.OpcodeInfo, program: Program) -> str:
    name = ins.name
    op = [operand_text(o, "*") for o in ins.operands]
    values = ins.values
    if name == "dcl_immediateConstantBuffer":
        return _icb_text(ins)
    if info.has(opcodes.Control.CUSTOM_DATA):
        return f"// {name}: {len(ins.data)} dwords"
    if name == "dcl_globalFlags":
        flags = [text for bit, text in enumerate(GLOBAL_FLAG_NAMES) if ins.flags >> bit & 1]
        return f"{name} {' | '.join(flags)}" if flags else name
    if name == "dcl_constantbuffer":
        cb = ins.operands[0]
        indices = "".join(f"[{_index_text(i)}]" for i in cb.indices[1:])
        if len(cb.indices) == 3:
            text = f"CB{cb.indices[0].immediate}[{cb.indices[1].immediate}:{cb.indices[2].immediate}]"
            text += f"[{values[0] if values else 0}]"
        else:
            text = f"CB{cb.indices[0].immediate if cb.indices else 0}{indices}"
        access = "dynamicIndexed" if ins.dynamic_indexed else "immediateIndexed"
        space = f", space={values[-1]}" if len(cb.indices) == 3 and len(values) > 1 else ""
        return f"{name} {text}, {access}{space}"
    if name == "dcl_sampler":
        return f"{name} {op[0]}, {SAMPLER_MODE_NAMES[ins.sampler_mode]}"
    if name in ("dcl_resource", "dcl_uav_typed"):
        dimension = DIMENSION_NAMES[ins.resource_dimension]
        if ins.sample_count and ins.resource_dimension in (ResourceDimension.TEXTURE2DMS,
                                                           ResourceDimension.TEXTURE2DMSARRAY):
            dimension += f"({ins.sample_count})"
        suffix = _uav_suffix(ins) if name == "dcl_uav_typed" else ""
        return f"{name}_{dimension}{suffix} {_return_types_text(ins.return_types)} {op[0]}"
    if name in ("dcl_uav_raw", "dcl_uav_structured"):
        tail = f", {values[0]}" if name == "dcl_uav_structured" else ""
        return f"{name}{_uav_suffix(ins)} {op[0]}{tail}"
    if name in ("dcl_input_ps", "dcl_input_ps_siv", "dcl_input_ps_sgv"):
        mode = INTERPOLATION_NAMES[ins.interpolation]
        text = f"{name} {mode} {op[0]}" if mode else f"{name} {op[0]}"
        return text + (f", {_sv_text(values[0])}" if name != "dcl_input_ps" else "")
    if name in ("dcl_input_siv", "dcl_input_sgv", "dcl_output_siv", "dcl_output_sgv"):
        return f"{name} {op[0]}, {_sv_text(values[0])}"
    if name == "dcl_indexableTemp":
        return f"{name} x{values[0]}[{values[1]}], {values[2]}"
    if name == "dcl_inputprimitive":
        return f"{name} {PRIMITIVES.get(ins.flags & 0x3F, ins.flags & 0x3F)}"
    if name == "dcl_outputtopology":
        return f"{name} {TOPOLOGIES.get(ins.flags & 0x7F, ins.flags & 0x7F)}"
    if name in TESSELLATOR:
        code = ins.flags & 0x7
        return f"{name} {TESSELLATOR[name].get(code, code)}"
    if name in ("dcl_input_control_point_count", "dcl_output_control_point_count"):
        return f"{name} {ins.flags & 0x3F}"
    if name == "dcl_hs_max_tessfactor":
        return f"{name} l({_float_text(values[0])})"
    if name == "dcl_indexrange":
        return f"{name} {op[0]} {values[0]}"
    if name == "dcl_function_body":
        return f"{name} fb{values[0]}"
    if name == "dcl_function_table":
        bodies = ", ".join(f"fb{v}" for v in values[2:])
        return f"{name} ft{values[0]} = {{{bodies}}}"
    if name == "dcl_interface":
        tables = ", ".join(f"ft{v}" for v in values[3:])
        count = values[2] >> 16 if len(values) > 2 else 0
        kind = "dcl_interface_dynamicindexed" if ins.flags & 1 else name
        return f"{kind} fp{values[0]}[{count}][{values[1] if len(values) > 1 else 0}] = {{{tables}}}"
    parts = op + [str(v) for v in values]
    return f"{name} {', '.join(parts)}" if parts else name


def _uav_suffix(ins: Instruction) -> str:
    return ("_glc" if ins.globally_coherent else "") + ("_rov" if ins.rasterizer_ordered else "") + \
        ("_opc" if ins.flags >> 12 & 1 else "")


def _sv_text(code: int) -> str:
    return SYSTEM_VALUE_NAMES[code] if code < len(SYSTEM_VALUE_NAMES) else str(code)


def instruction_text(ins: Instruction, program: Program) -> str:
    """One instruction or declaration as fxc prints it (no indentation)."""
    info = opcodes.by_number(ins.opcode)
    if info is None:
        return f"// unknown opcode {ins.opcode:#x}"
    if info.is_declaration:
        return _declaration(ins, info, program)
    return _plain(ins, info)


# --- signatures ------------------------------------------------------------------------------------

_SV_COLUMN = {
    SystemValue.UNDEFINED: "NONE", SystemValue.POSITION: "POS", SystemValue.CLIP_DISTANCE: "CLIPDST",
    SystemValue.CULL_DISTANCE: "CULLDST", SystemValue.RENDER_TARGET_ARRAY_INDEX: "RTINDEX",
    SystemValue.VIEWPORT_ARRAY_INDEX: "VPINDEX", SystemValue.VERTEX_ID: "VERTID",
    SystemValue.PRIMITIVE_ID: "PRIMID", SystemValue.INSTANCE_ID: "INSTID", SystemValue.IS_FRONT_FACE: "FFACE",
    SystemValue.SAMPLE_INDEX: "SAMPLE", SystemValue.FINAL_QUAD_EDGE_TESSFACTOR: "QUADEDGE",
    SystemValue.FINAL_QUAD_INSIDE_TESSFACTOR: "QUADINT", SystemValue.FINAL_TRI_EDGE_TESSFACTOR: "TRIEDGE",
    SystemValue.FINAL_TRI_INSIDE_TESSFACTOR: "TRIINT", SystemValue.FINAL_LINE_DETAIL_TESSFACTOR: "LINEDET",
    SystemValue.FINAL_LINE_DENSITY_TESSFACTOR: "LINEDEN", SystemValue.TARGET: "TARGET",
    SystemValue.DEPTH: "DEPTH", SystemValue.COVERAGE: "COVERAGE", SystemValue.DEPTH_GREATER_EQUAL: "DEPTHGE",
    SystemValue.DEPTH_LESS_EQUAL: "DEPTHLE", SystemValue.STENCIL_REF: "STENCILREF",
    SystemValue.INNER_COVERAGE: "INNERCOV",
}
_FORMAT_COLUMN = {ComponentType.UNKNOWN: "unknown", ComponentType.UINT32: "uint", ComponentType.SINT32: "int",
                  ComponentType.FLOAT32: "float"}
_SCALAR_OUTPUTS = {SystemValue.DEPTH: "oDepth", SystemValue.COVERAGE: "oMask",
                   SystemValue.DEPTH_GREATER_EQUAL: "oDepthGE", SystemValue.DEPTH_LESS_EQUAL: "oDepthLE",
                   SystemValue.STENCIL_REF: "oStencilRef"}


def _mask_column(mask: int) -> str:
    return "".join("xyzw"[i] if mask >> i & 1 else " " for i in range(4))


def signature_lines(title: str, elements: tuple[SignatureElement, ...], output: bool) -> list[str]:
    """fxc's signature table (the lines without the `// ` comment prefix)."""
    lines = [f"{title}:", "", "Name                 Index   Mask Register SysValue  Format   Used",
             "-------------------- ----- ------ -------- -------- ------- ------"]
    for e in elements:
        sv = _SV_COLUMN.get(e.system_value, str(int(e.system_value)))
        fmt = _FORMAT_COLUMN.get(e.component_type, "unknown")
        used_mask = e.mask & ~e.rw_mask if output else e.rw_mask
        if output and e.system_value in _SCALAR_OUTPUTS:
            mask, register, used = "N/A", _SCALAR_OUTPUTS[e.system_value], "YES" if used_mask else "NO"
        else:
            mask, register, used = _mask_column(e.mask), str(e.register), _mask_column(used_mask)
        lines.append(f"{e.semantic_name:<20} {e.semantic_index:5} {mask:>6} {register:>8} {sv:>8} "
                     f"{fmt:>7} {used:>6}")
    return lines


def _header(blob: ShaderBlob) -> list[str]:
    body = ["", "Generated by Microsoft (R) D3D Shader Disassembler", "", ""]
    body += signature_lines("Input signature", blob.inputs, output=False) + ["", ""]
    body += signature_lines("Output signature", blob.outputs, output=True)
    if blob.patch_constants:
        body += ["", ""] + signature_lines("Patch Constant signature", blob.patch_constants, output=True)
    return [("// " + line).rstrip() for line in body] + ["//"]


# --- the listing -----------------------------------------------------------------------------------

def disassemble(program: Program, blob: ShaderBlob | None = None) -> str:
    """The whole listing: fxc's comment header when the container is given, the profile line,
    then one line per instruction (block bodies indented by two spaces, as fxc does)."""
    lines = _header(blob) if blob is not None else []
    lines.append(program.profile)
    depth = 0
    for ins in program.instructions:
        if ins.name in _CLOSES:
            depth = max(depth - 1, 0)
        text = instruction_text(ins, program)
        lines.extend("  " * depth + part for part in text.split("\n"))
        if ins.name in _OPENS:
            depth += 1
    return "\n".join(lines) + "\n"
