"""The decoded form of a DXBC shader: what the container parser and the SM4/5 decoder produce
and what the disassembler and the WGSL writer consume.

Plain frozen dataclasses and the token format's own enumerations (their numbers are the
numbers in the bytecode, D3D10_SB_* / D3D11_SB_* in Microsoft's d3d11TokenizedProgramFormat.hpp).
Nothing here does I/O or knows about wgpu.

Instruction names are fxc's mnemonics without modifiers ("add", "sample_c_lz", "dcl_resource",
"if", "imm_atomic_iadd"); a saturate, a test (`_nz`/`_z`), a precise mask or immediate
sample offsets are fields of the instruction, not part of its name. Declarations are
instructions too (names starting "dcl_"), in program order, so a consumer sees exactly what
fxc wrote.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ProgramType(enum.IntEnum):
    """The version token's program type (D3D10_SB_TOKENIZED_PROGRAM_TYPE)."""
    PIXEL = 0
    VERTEX = 1
    GEOMETRY = 2
    HULL = 3
    DOMAIN = 4
    COMPUTE = 5

    @property
    def prefix(self) -> str:
        return "pvghdc"[self] + "s"


class OperandType(enum.IntEnum):
    """D3D10_SB_OPERAND_TYPE / D3D11_SB_OPERAND_TYPE."""
    TEMP = 0
    INPUT = 1
    OUTPUT = 2
    INDEXABLE_TEMP = 3
    IMMEDIATE32 = 4
    IMMEDIATE64 = 5
    SAMPLER = 6
    RESOURCE = 7
    CONSTANT_BUFFER = 8
    IMMEDIATE_CONSTANT_BUFFER = 9
    LABEL = 10
    INPUT_PRIMITIVEID = 11
    OUTPUT_DEPTH = 12
    NULL = 13
    RASTERIZER = 14
    OUTPUT_COVERAGE_MASK = 15
    STREAM = 16
    FUNCTION_BODY = 17
    FUNCTION_TABLE = 18
    INTERFACE = 19
    FUNCTION_INPUT = 20
    FUNCTION_OUTPUT = 21
    OUTPUT_CONTROL_POINT_ID = 22
    INPUT_FORK_INSTANCE_ID = 23
    INPUT_JOIN_INSTANCE_ID = 24
    INPUT_CONTROL_POINT = 25
    OUTPUT_CONTROL_POINT = 26
    INPUT_PATCH_CONSTANT = 27
    INPUT_DOMAIN_POINT = 28
    THIS_POINTER = 29
    UNORDERED_ACCESS_VIEW = 30
    THREAD_GROUP_SHARED_MEMORY = 31
    INPUT_THREAD_ID = 32
    INPUT_THREAD_GROUP_ID = 33
    INPUT_THREAD_ID_IN_GROUP = 34
    INPUT_COVERAGE_MASK = 35
    INPUT_THREAD_ID_IN_GROUP_FLATTENED = 36
    INPUT_GS_INSTANCE_ID = 37
    OUTPUT_DEPTH_GREATER_EQUAL = 38
    OUTPUT_DEPTH_LESS_EQUAL = 39
    CYCLE_COUNTER = 40
    OUTPUT_STENCIL_REF = 41
    INNER_COVERAGE = 42


class Selection(enum.IntEnum):
    """How a 4-component operand picks components (D3D10_SB_OPERAND_4_COMPONENT_SELECTION_MODE)."""
    MASK = 0
    SWIZZLE = 1
    SELECT1 = 2


class IndexRepresentation(enum.IntEnum):
    """D3D10_SB_OPERAND_INDEX_REPRESENTATION."""
    IMMEDIATE32 = 0
    IMMEDIATE64 = 1
    RELATIVE = 2
    IMMEDIATE32_PLUS_RELATIVE = 3
    IMMEDIATE64_PLUS_RELATIVE = 4


class Modifier(enum.IntFlag):
    """Source operand modifiers (D3D10_SB_OPERAND_MODIFIER): NEG | ABS is -|x|."""
    NONE = 0
    NEG = 1
    ABS = 2


class ResourceDimension(enum.IntEnum):
    """D3D10_SB_RESOURCE_DIMENSION (declarations and the resource-dimension extended token)."""
    UNKNOWN = 0
    BUFFER = 1
    TEXTURE1D = 2
    TEXTURE2D = 3
    TEXTURE2DMS = 4
    TEXTURE3D = 5
    TEXTURECUBE = 6
    TEXTURE1DARRAY = 7
    TEXTURE2DARRAY = 8
    TEXTURE2DMSARRAY = 9
    TEXTURECUBEARRAY = 10
    RAW_BUFFER = 11
    STRUCTURED_BUFFER = 12


class ReturnType(enum.IntEnum):
    """D3D10_SB_RESOURCE_RETURN_TYPE: what a resource read returns, per component."""
    UNORM = 1
    SNORM = 2
    SINT = 3
    UINT = 4
    FLOAT = 5
    MIXED = 6
    DOUBLE = 7
    CONTINUED = 8
    UNUSED = 9


class Interpolation(enum.IntEnum):
    """D3D10_SB_INTERPOLATION_MODE of a pixel-shader input declaration."""
    UNDEFINED = 0
    CONSTANT = 1
    LINEAR = 2
    LINEAR_CENTROID = 3
    LINEAR_NOPERSPECTIVE = 4
    LINEAR_NOPERSPECTIVE_CENTROID = 5
    LINEAR_SAMPLE = 6
    LINEAR_NOPERSPECTIVE_SAMPLE = 7


class SamplerMode(enum.IntEnum):
    """D3D10_SB_SAMPLER_MODE."""
    DEFAULT = 0
    COMPARISON = 1
    MONO = 2


class SystemValue(enum.IntEnum):
    """D3D_NAME: the system value of a signature element or of a `_siv`/`_sgv` declaration
    (declarations use the first 23; signatures also use 64 and up)."""
    UNDEFINED = 0
    POSITION = 1
    CLIP_DISTANCE = 2
    CULL_DISTANCE = 3
    RENDER_TARGET_ARRAY_INDEX = 4
    VIEWPORT_ARRAY_INDEX = 5
    VERTEX_ID = 6
    PRIMITIVE_ID = 7
    INSTANCE_ID = 8
    IS_FRONT_FACE = 9
    SAMPLE_INDEX = 10
    FINAL_QUAD_EDGE_TESSFACTOR = 11
    FINAL_QUAD_INSIDE_TESSFACTOR = 12
    FINAL_TRI_EDGE_TESSFACTOR = 13
    FINAL_TRI_INSIDE_TESSFACTOR = 14
    FINAL_LINE_DETAIL_TESSFACTOR = 15
    FINAL_LINE_DENSITY_TESSFACTOR = 16
    BARYCENTRICS = 23
    SHADINGRATE = 24
    CULLPRIMITIVE = 25
    TARGET = 64
    DEPTH = 65
    COVERAGE = 66
    DEPTH_GREATER_EQUAL = 67
    DEPTH_LESS_EQUAL = 68
    STENCIL_REF = 69
    INNER_COVERAGE = 70


class ComponentType(enum.IntEnum):
    """D3D_REGISTER_COMPONENT_TYPE of a signature element."""
    UNKNOWN = 0
    UINT32 = 1
    SINT32 = 2
    FLOAT32 = 3


class ResInfoType(enum.IntEnum):
    """`resinfo`'s return type (D3D10_SB_RESINFO_INSTRUCTION_RETURN_TYPE)."""
    FLOAT = 0
    RCP_FLOAT = 1
    UINT = 2


class SyncFlag(enum.IntFlag):
    """`sync`'s flags (D3D11_SB_SYNC_*)."""
    THREADS_IN_GROUP = 1
    THREAD_GROUP_SHARED_MEMORY = 2
    UAV_MEMORY_GROUP = 4
    UAV_MEMORY_GLOBAL = 8


@dataclass(frozen=True)
class Index:
    """One dimension of an operand's register index: `immediate + relative`.

    `relative` is a source operand (a register with a select-1 component, e.g. r0.x) or None;
    `immediate` is 0 where the representation is relative only."""
    immediate: int = 0
    relative: "Operand | None" = None
    representation: IndexRepresentation = IndexRepresentation.IMMEDIATE32


@dataclass(frozen=True)
class Operand:
    """A register reference or an immediate.

    - `components`: 0, 1 or 4 (N-component operands do not occur in SM4/5).
    - For 4-component operands, `selection` says how `mask` or `swizzle` applies: a destination
      uses MASK (`mask`: 4 bits, x = bit 0); a source uses SWIZZLE (`swizzle`: four component
      numbers 0..3) or SELECT1 (`swizzle` holds the one component four times).
      1-component operands have mask 0b0001 and swizzle (0, 0, 0, 0).
    - `indices`: one per index dimension (r3 has one, cb0[4] two, x1[r0.x + 2] two).
    - `values`: the 32-bit words of an IMMEDIATE32 (1 or 4 of them) or IMMEDIATE64 operand,
      as unsigned integers: bit patterns, never converted.
    - `modifier`: NEG / ABS of a source (the extended operand token).
    - `min_precision` and `nonuniform` from the extended operand token, kept for the disassembler.
    """
    type: OperandType
    components: int = 4
    selection: Selection = Selection.SWIZZLE
    mask: int = 0b1111
    swizzle: tuple[int, int, int, int] = (0, 1, 2, 3)
    indices: tuple[Index, ...] = ()
    values: tuple[int, ...] = ()
    modifier: Modifier = Modifier.NONE
    min_precision: int = 0
    nonuniform: bool = False


@dataclass(frozen=True)
class Instruction:
    """One instruction or declaration, as the token stream has it.

    - `name`: fxc's mnemonic without modifiers; `opcode`: its number.
    - `offset`: dword offset of the opcode token from the start of the program chunk's
      token stream (the version token is offset 0); errors name it.
    - `operands`: in token order (destinations first, as fxc prints them).
    - `saturate`, `test_nonzero` (for if/breakc/continuec/retc/discard/callc/movc-free tests:
      True for `_nz`, False for `_z`, None where the opcode has no test), `precise_mask`.
    - `sample_offsets`: the (u, v, w) immediate texel offsets (`aoffimmi`) or None.
    - `resource_dimension`, `return_types` (four), `structure_stride`: from the extended
      opcode tokens of SM5's `*_indexable` forms, or from a resource/UAV declaration.
    - Declarations put their own data in the fields below; `values` holds the trailing
      dwords of declarations that carry plain numbers, in token order:
      dcl_temps (count), dcl_indexableTemp (register, size, components), dcl_thread_group
      (x, y, z), dcl_tgsm_raw (byte count; operand g#), dcl_tgsm_structured (stride, count),
      dcl_resource_structured / dcl_uav_structured (stride), dcl_maxout, dcl_input_control_point_count
      etc., dcl_hs_* counts; dcl_globalFlags and others keep their control bits in `flags`.
    - `interpolation` (dcl_input_ps*), `system_value` (dcl_*_siv / dcl_*_sgv), `sampler_mode`
      (dcl_sampler), `dynamic_indexed` (dcl_constantbuffer: dynamicIndexed vs immediateIndexed),
      `globally_coherent` / `rasterizer_ordered` (dcl_uav_*), `resinfo_type` (resinfo),
      `sync_flags` (sync), `sample_count` (dcl_resource for texture2dms[array], 0 = unknown).
    - `data`: the dwords of a custom-data block (dcl_immediateConstantBuffer: 4 per vec4).
    - `flags`: the opcode token's raw control bits 11..23, for whatever the fields above miss.
    """
    name: str
    opcode: int
    offset: int = 0
    operands: tuple[Operand, ...] = ()
    saturate: bool = False
    test_nonzero: bool | None = None
    precise_mask: int = 0
    sample_offsets: tuple[int, int, int] | None = None
    resource_dimension: ResourceDimension | None = None
    return_types: tuple[ReturnType, ReturnType, ReturnType, ReturnType] | None = None
    structure_stride: int | None = None
    values: tuple[int, ...] = ()
    interpolation: Interpolation | None = None
    system_value: SystemValue | None = None
    sampler_mode: SamplerMode | None = None
    dynamic_indexed: bool | None = None
    globally_coherent: bool = False
    rasterizer_ordered: bool = False
    resinfo_type: ResInfoType | None = None
    sync_flags: SyncFlag = SyncFlag(0)
    sample_count: int = 0
    data: tuple[int, ...] = ()
    flags: int = 0


@dataclass(frozen=True)
class Program:
    """The SHDR/SHEX chunk, decoded."""
    type: ProgramType
    major: int
    minor: int
    instructions: tuple[Instruction, ...]

    @property
    def profile(self) -> str:
        return f"{self.type.prefix}_{self.major}_{self.minor}"


@dataclass(frozen=True)
class SignatureElement:
    """One row of an ISGN/ISG1/OSGN/OSG5/OSG1/PCSG/PSG1 chunk."""
    semantic_name: str
    semantic_index: int
    system_value: SystemValue
    component_type: ComponentType
    register: int
    mask: int  # components the element occupies (x = bit 0)
    rw_mask: int  # inputs: components the shader reads; outputs: components it does NOT always write
    stream: int = 0
    min_precision: int = 0


@dataclass(frozen=True)
class ResourceBinding:
    """One bound resource of an RDEF chunk (absent in stripped shaders)."""
    name: str
    input_type: int  # D3D_SHADER_INPUT_TYPE
    return_type: int
    dimension: int  # D3D_SRV_DIMENSION
    sample_count: int
    bind_point: int
    bind_count: int
    flags: int
    space: int = 0


@dataclass(frozen=True)
class ShaderBlob:
    """A parsed DXBC container: the chunks pvgpu uses, every bound checked."""
    program_type: ProgramType
    major: int
    minor: int
    tokens: bytes  # the SHDR/SHEX chunk's token stream (version and length tokens included)
    inputs: tuple[SignatureElement, ...] = ()
    outputs: tuple[SignatureElement, ...] = ()
    patch_constants: tuple[SignatureElement, ...] = ()
    resources: tuple[ResourceBinding, ...] = ()
    creator: str = ""
    feature_flags: int = 0  # SFI0
    stats: tuple[int, ...] = ()  # STAT, as dwords
    chunks: tuple[str, ...] = field(default=())  # every chunk's four-character code, in order
