"""The SM4.0 / SM4.1 / SM5.0 instruction set as one table.

Every opcode number of the tokenized program format (D3D10_SB_OPCODE_* and D3D11_SB_OPCODE_*
in Microsoft's d3d11TokenizedProgramFormat.hpp) has one row: fxc's mnemonic, the group it
belongs to, what follows the opcode token in token order (its *layout*), and which control
bits of the opcode token mean something. The decoder, the disassembler, the assembler and the
WGSL writer's dispatch all read this table; nothing else lists operands.

Layout notation (one string per item, in token order):

- an operand is two letters, role then type.
  Role: ``D`` destination (written, has a write mask), ``S`` source (read, has a swizzle),
  ``O`` the register a declaration declares.
  Type of the 32-bit values it carries: ``f`` float, ``i`` signed int, ``u`` unsigned int,
  ``d`` double (two dwords per value), ``x`` untyped bits (``mov``, ``movc``, loads: the bits
  pass through unchanged), ``c`` a condition (tested against zero, any bits), ``r`` a resource,
  UAV or group-shared memory register (t#, u#, g#), ``s`` a sampler, ``*`` anything else
  (labels, streams, interfaces; also every ``O``).
- a trailing (or, for ``fcall``, leading) plain dword is ``#name``; ``#...`` takes every
  dword left in the instruction (variable-length declarations).

An immediate operand's type letter decides how fxc prints it (float, integer or by guess).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


class Control(enum.Flag):
    """Which fields of the opcode token (bits 11..23) an opcode uses."""
    NONE = 0
    SATURATE = enum.auto()       # bit 13: clamp the float result to [0, 1]
    TEST = enum.auto()           # bit 18: _nz (1) or _z (0)
    PRECISE = enum.auto()        # bits 19..22: per-component precise mask (D3D11.1)
    RESINFO = enum.auto()        # bits 11..12: resinfo return type (float, rcpFloat, uint)
    SAMPLEINFO = enum.auto()     # bit 11: sampleinfo returns uint
    SYNC = enum.auto()           # bits 11..14: sync flags
    RESOURCE = enum.auto()       # bits 11..15: resource dimension; bits 16..22: sample count
    INTERPOLATION = enum.auto()  # bits 11..14: pixel-shader input interpolation
    SAMPLER_MODE = enum.auto()   # bits 11..14: default / comparison / mono
    CB_ACCESS = enum.auto()      # bit 11: dynamicIndexed (1) or immediateIndexed (0)
    UAV_FLAGS = enum.auto()      # bit 16: globally coherent; bit 17: rasterizer ordered; bit 23: counter
    GLOBAL_FLAGS = enum.auto()   # bits 11..18: dcl_globalFlags
    PRIMITIVE = enum.auto()      # bits 11..16: GS input primitive
    TOPOLOGY = enum.auto()       # bits 11..17: GS output topology
    CONTROL_POINTS = enum.auto() # bits 11..16: HS/DS control point count
    TESSELLATOR = enum.auto()    # bits 11..13: domain / partitioning / output primitive
    INTERFACE = enum.auto()      # bit 11: dcl_interface dynamically indexed
    CUSTOM_DATA = enum.auto()    # bits 11..31: data class; the length is the next dword


class Group(str, enum.Enum):
    """What kind of instruction a row is (documentation and the writer's coarse dispatch)."""
    ALU = "alu"
    INTEGER = "integer"
    FLOW = "flow"
    RESOURCE = "resource"
    ATOMIC = "atomic"
    DOUBLE = "double"
    DECLARATION = "declaration"
    HULL_PHASE = "hull_phase"
    GEOMETRY = "geometry"
    INTERFACE = "interface"
    CUSTOM_DATA = "custom_data"
    DEBUG = "debug"


ROLES = "DSO"
TYPES = "fiudxcrs*"


@dataclass(frozen=True)
class OperandKind:
    """One operand of an instruction: its role (``D``, ``S``, ``O``) and value type letter."""
    role: str
    type: str

    @property
    def is_destination(self) -> bool:
        return self.role == "D"

    def __str__(self) -> str:
        return self.role + self.type


@dataclass(frozen=True)
class OpcodeInfo:
    """One row of the table. `layout` is the token-order notation of the module docstring."""
    number: int
    name: str
    group: Group
    layout: tuple[str, ...]
    controls: Control
    model: tuple[int, int]

    @property
    def is_declaration(self) -> bool:
        return self.group in (Group.DECLARATION, Group.CUSTOM_DATA)

    @property
    def operands(self) -> tuple[OperandKind, ...]:
        """The operands in token order (declaration values left out)."""
        return tuple(OperandKind(item[0], item[1]) for item in self.layout if not item.startswith("#"))

    @property
    def destinations(self) -> tuple[OperandKind, ...]:
        return tuple(k for k in self.operands if k.role == "D")

    @property
    def sources(self) -> tuple[OperandKind, ...]:
        return tuple(k for k in self.operands if k.role == "S")

    @property
    def values(self) -> tuple[str, ...]:
        """Names of the plain dwords (``#name`` items, without the ``#``)."""
        return tuple(item[1:] for item in self.layout if item.startswith("#"))

    def has(self, control: Control) -> bool:
        return bool(self.controls & control)


S = Control.SATURATE
T = Control.TEST
P = Control.PRECISE
A = Group.ALU
N = Group.INTEGER
F = Group.FLOW
R = Group.RESOURCE
M = Group.ATOMIC
X = Group.DOUBLE
C = Group.DECLARATION
H = Group.HULL_PHASE
G = Group.GEOMETRY
I = Group.INTERFACE

# number, fxc mnemonic, group, layout (space separated), controls
_ROWS: tuple[tuple[int, str, Group, str, Control], ...] = (
    (0x00, "add", A, "Df Sf Sf", S | P),
    (0x01, "and", N, "Du Su Su", P),
    (0x02, "break", F, "", Control.NONE),
    (0x03, "breakc", F, "Sc", T),
    (0x04, "call", F, "S*", Control.NONE),
    (0x05, "callc", F, "Sc S*", T),
    (0x06, "case", F, "Si", Control.NONE),
    (0x07, "continue", F, "", Control.NONE),
    (0x08, "continuec", F, "Sc", T),
    (0x09, "cut", G, "", Control.NONE),
    (0x0A, "default", F, "", Control.NONE),
    (0x0B, "deriv_rtx", A, "Df Sf", S | P),
    (0x0C, "deriv_rty", A, "Df Sf", S | P),
    (0x0D, "discard", F, "Sc", T),
    (0x0E, "div", A, "Df Sf Sf", S | P),
    (0x0F, "dp2", A, "Df Sf Sf", S | P),
    (0x10, "dp3", A, "Df Sf Sf", S | P),
    (0x11, "dp4", A, "Df Sf Sf", S | P),
    (0x12, "else", F, "", Control.NONE),
    (0x13, "emit", G, "", Control.NONE),
    (0x14, "emitThenCut", G, "", Control.NONE),
    (0x15, "endif", F, "", Control.NONE),
    (0x16, "endloop", F, "", Control.NONE),
    (0x17, "endswitch", F, "", Control.NONE),
    (0x18, "eq", A, "Du Sf Sf", P),
    (0x19, "exp", A, "Df Sf", S | P),
    (0x1A, "frc", A, "Df Sf", S | P),
    (0x1B, "ftoi", A, "Di Sf", P),
    (0x1C, "ftou", A, "Du Sf", P),
    (0x1D, "ge", A, "Du Sf Sf", P),
    (0x1E, "iadd", N, "Di Si Si", P),
    (0x1F, "if", F, "Sc", T),
    (0x20, "ieq", N, "Du Si Si", P),
    (0x21, "ige", N, "Du Si Si", P),
    (0x22, "ilt", N, "Du Si Si", P),
    (0x23, "imad", N, "Di Si Si Si", P),
    (0x24, "imax", N, "Di Si Si", P),
    (0x25, "imin", N, "Di Si Si", P),
    (0x26, "imul", N, "Di Di Si Si", P),
    (0x27, "ine", N, "Du Si Si", P),
    (0x28, "ineg", N, "Di Si", P),
    (0x29, "ishl", N, "Di Si Si", P),
    (0x2A, "ishr", N, "Di Si Si", P),
    (0x2B, "itof", A, "Df Si", S | P),
    (0x2C, "label", F, "S*", Control.NONE),
    (0x2D, "ld", R, "Dx Si Sr", S),
    (0x2E, "ld_ms", R, "Dx Si Sr Si", S),
    (0x2F, "log", A, "Df Sf", S | P),
    (0x30, "loop", F, "", Control.NONE),
    (0x31, "lt", A, "Du Sf Sf", P),
    (0x32, "mad", A, "Df Sf Sf Sf", S | P),
    (0x33, "min", A, "Df Sf Sf", S | P),
    (0x34, "max", A, "Df Sf Sf", S | P),
    (0x35, "customdata", Group.CUSTOM_DATA, "#...", Control.CUSTOM_DATA),
    (0x36, "mov", A, "Dx Sx", S | P),
    (0x37, "movc", A, "Dx Sc Sx Sx", S | P),
    (0x38, "mul", A, "Df Sf Sf", S | P),
    (0x39, "ne", A, "Du Sf Sf", P),
    (0x3A, "nop", F, "", Control.NONE),
    (0x3B, "not", N, "Du Su", P),
    (0x3C, "or", N, "Du Su Su", P),
    (0x3D, "resinfo", R, "Dx Su Sr", S | Control.RESINFO),
    (0x3E, "ret", F, "", Control.NONE),
    (0x3F, "retc", F, "Sc", T),
    (0x40, "round_ne", A, "Df Sf", S | P),
    (0x41, "round_ni", A, "Df Sf", S | P),
    (0x42, "round_pi", A, "Df Sf", S | P),
    (0x43, "round_z", A, "Df Sf", S | P),
    (0x44, "rsq", A, "Df Sf", S | P),
    (0x45, "sample", R, "Dx Sf Sr Ss", S),
    (0x46, "sample_c", R, "Df Sf Sr Ss Sf", S),
    (0x47, "sample_c_lz", R, "Df Sf Sr Ss Sf", S),
    (0x48, "sample_l", R, "Dx Sf Sr Ss Sf", S),
    (0x49, "sample_d", R, "Dx Sf Sr Ss Sf Sf", S),
    (0x4A, "sample_b", R, "Dx Sf Sr Ss Sf", S),
    (0x4B, "sqrt", A, "Df Sf", S | P),
    (0x4C, "switch", F, "Si", Control.NONE),
    (0x4D, "sincos", A, "Df Df Sf", S | P),
    (0x4E, "udiv", N, "Du Du Su Su", P),
    (0x4F, "ult", N, "Du Su Su", P),
    (0x50, "uge", N, "Du Su Su", P),
    (0x51, "umul", N, "Du Du Su Su", P),
    (0x52, "umad", N, "Du Su Su Su", P),
    (0x53, "umax", N, "Du Su Su", P),
    (0x54, "umin", N, "Du Su Su", P),
    (0x55, "ushr", N, "Du Su Su", P),
    (0x56, "utof", A, "Df Su", S | P),
    (0x57, "xor", N, "Du Su Su", P),
    (0x58, "dcl_resource", C, "O* #return_type", Control.RESOURCE),
    (0x59, "dcl_constantbuffer", C, "O*", Control.CB_ACCESS),
    (0x5A, "dcl_sampler", C, "O*", Control.SAMPLER_MODE),
    (0x5B, "dcl_indexrange", C, "O* #count", Control.NONE),
    (0x5C, "dcl_outputtopology", C, "", Control.TOPOLOGY),
    (0x5D, "dcl_inputprimitive", C, "", Control.PRIMITIVE),
    (0x5E, "dcl_maxout", C, "#count", Control.NONE),
    (0x5F, "dcl_input", C, "O*", Control.NONE),
    (0x60, "dcl_input_sgv", C, "O* #system_value", Control.NONE),
    (0x61, "dcl_input_siv", C, "O* #system_value", Control.NONE),
    (0x62, "dcl_input_ps", C, "O*", Control.INTERPOLATION),
    (0x63, "dcl_input_ps_sgv", C, "O* #system_value", Control.INTERPOLATION),
    (0x64, "dcl_input_ps_siv", C, "O* #system_value", Control.INTERPOLATION),
    (0x65, "dcl_output", C, "O*", Control.NONE),
    (0x66, "dcl_output_sgv", C, "O* #system_value", Control.NONE),
    (0x67, "dcl_output_siv", C, "O* #system_value", Control.NONE),
    (0x68, "dcl_temps", C, "#count", Control.NONE),
    (0x69, "dcl_indexableTemp", C, "#register #size #components", Control.NONE),
    (0x6A, "dcl_globalFlags", C, "", Control.GLOBAL_FLAGS),
    (0x6C, "lod", R, "Df Sf Sr Ss", Control.NONE),
    (0x6D, "gather4", R, "Dx Sf Sr Ss", Control.NONE),
    (0x6E, "samplepos", R, "Df Sr Si", Control.NONE),
    (0x6F, "sampleinfo", R, "Dx Sr", Control.SAMPLEINFO),
    (0x71, "hs_decls", H, "", Control.NONE),
    (0x72, "hs_control_point_phase", H, "", Control.NONE),
    (0x73, "hs_fork_phase", H, "", Control.NONE),
    (0x74, "hs_join_phase", H, "", Control.NONE),
    (0x75, "emit_stream", G, "S*", Control.NONE),
    (0x76, "cut_stream", G, "S*", Control.NONE),
    (0x77, "emitThenCut_stream", G, "S*", Control.NONE),
    (0x78, "fcall", I, "#body S*", Control.NONE),
    (0x79, "bufinfo", R, "Du Sr", Control.NONE),
    (0x7A, "deriv_rtx_coarse", A, "Df Sf", S | P),
    (0x7B, "deriv_rtx_fine", A, "Df Sf", S | P),
    (0x7C, "deriv_rty_coarse", A, "Df Sf", S | P),
    (0x7D, "deriv_rty_fine", A, "Df Sf", S | P),
    (0x7E, "gather4_c", R, "Df Sf Sr Ss Sf", Control.NONE),
    (0x7F, "gather4_po", R, "Dx Sf Si Sr Ss", Control.NONE),
    (0x80, "gather4_po_c", R, "Df Sf Si Sr Ss Sf", Control.NONE),
    (0x81, "rcp", A, "Df Sf", S | P),
    (0x82, "f32tof16", A, "Du Sf", P),
    (0x83, "f16tof32", A, "Df Su", S | P),
    (0x84, "uaddc", N, "Du Du Su Su", P),
    (0x85, "usubb", N, "Du Du Su Su", P),
    (0x86, "countbits", N, "Du Su", P),
    (0x87, "firstbit_hi", N, "Du Su", P),
    (0x88, "firstbit_lo", N, "Du Su", P),
    (0x89, "firstbit_shi", N, "Du Si", P),
    (0x8A, "ubfe", N, "Du Su Su Su", P),
    (0x8B, "ibfe", N, "Di Su Su Si", P),
    (0x8C, "bfi", N, "Du Su Su Su Su", P),
    (0x8D, "bfrev", N, "Du Su", P),
    (0x8E, "swapc", A, "Dx Dx Sc Sx Sx", P),
    (0x8F, "dcl_stream", C, "O*", Control.NONE),
    (0x90, "dcl_function_body", C, "#body", Control.NONE),
    (0x91, "dcl_function_table", C, "#table #...", Control.NONE),
    (0x92, "dcl_interface", C, "#interface #...", Control.INTERFACE),
    (0x93, "dcl_input_control_point_count", C, "", Control.CONTROL_POINTS),
    (0x94, "dcl_output_control_point_count", C, "", Control.CONTROL_POINTS),
    (0x95, "dcl_tessellator_domain", C, "", Control.TESSELLATOR),
    (0x96, "dcl_tessellator_partitioning", C, "", Control.TESSELLATOR),
    (0x97, "dcl_tessellator_output_primitive", C, "", Control.TESSELLATOR),
    (0x98, "dcl_hs_max_tessfactor", C, "#max_tessfactor", Control.NONE),
    (0x99, "dcl_hs_fork_phase_instance_count", C, "#count", Control.NONE),
    (0x9A, "dcl_hs_join_phase_instance_count", C, "#count", Control.NONE),
    (0x9B, "dcl_thread_group", C, "#x #y #z", Control.NONE),
    (0x9C, "dcl_uav_typed", C, "O* #return_type", Control.RESOURCE | Control.UAV_FLAGS),
    (0x9D, "dcl_uav_raw", C, "O*", Control.UAV_FLAGS),
    (0x9E, "dcl_uav_structured", C, "O* #stride", Control.UAV_FLAGS),
    (0x9F, "dcl_tgsm_raw", C, "O* #byte_count", Control.NONE),
    (0xA0, "dcl_tgsm_structured", C, "O* #stride #count", Control.NONE),
    (0xA1, "dcl_resource_raw", C, "O*", Control.NONE),
    (0xA2, "dcl_resource_structured", C, "O* #stride", Control.NONE),
    (0xA3, "ld_uav_typed", R, "Dx Si Sr", Control.NONE),
    (0xA4, "store_uav_typed", R, "Dr Si Sx", Control.NONE),
    (0xA5, "ld_raw", R, "Dx Su Sr", Control.NONE),
    (0xA6, "store_raw", R, "Dr Su Sx", Control.NONE),
    (0xA7, "ld_structured", R, "Dx Su Su Sr", Control.NONE),
    (0xA8, "store_structured", R, "Dr Su Su Sx", Control.NONE),
    (0xA9, "atomic_and", M, "Dr Su Su", Control.NONE),
    (0xAA, "atomic_or", M, "Dr Su Su", Control.NONE),
    (0xAB, "atomic_xor", M, "Dr Su Su", Control.NONE),
    (0xAC, "atomic_cmp_store", M, "Dr Su Sx Sx", Control.NONE),
    (0xAD, "atomic_iadd", M, "Dr Su Si", Control.NONE),
    (0xAE, "atomic_imax", M, "Dr Su Si", Control.NONE),
    (0xAF, "atomic_imin", M, "Dr Su Si", Control.NONE),
    (0xB0, "atomic_umax", M, "Dr Su Su", Control.NONE),
    (0xB1, "atomic_umin", M, "Dr Su Su", Control.NONE),
    (0xB2, "imm_atomic_alloc", M, "Du Sr", Control.NONE),
    (0xB3, "imm_atomic_consume", M, "Du Sr", Control.NONE),
    (0xB4, "imm_atomic_iadd", M, "Di Dr Su Si", Control.NONE),
    (0xB5, "imm_atomic_and", M, "Du Dr Su Su", Control.NONE),
    (0xB6, "imm_atomic_or", M, "Du Dr Su Su", Control.NONE),
    (0xB7, "imm_atomic_xor", M, "Du Dr Su Su", Control.NONE),
    (0xB8, "imm_atomic_exch", M, "Dx Dr Su Sx", Control.NONE),
    (0xB9, "imm_atomic_cmp_exch", M, "Dx Dr Su Sx Sx", Control.NONE),
    (0xBA, "imm_atomic_imax", M, "Di Dr Su Si", Control.NONE),
    (0xBB, "imm_atomic_imin", M, "Di Dr Su Si", Control.NONE),
    (0xBC, "imm_atomic_umax", M, "Du Dr Su Su", Control.NONE),
    (0xBD, "imm_atomic_umin", M, "Du Dr Su Su", Control.NONE),
    (0xBE, "sync", F, "", Control.SYNC),
    (0xBF, "dadd", X, "Dd Sd Sd", S | P),
    (0xC0, "dmax", X, "Dd Sd Sd", S | P),
    (0xC1, "dmin", X, "Dd Sd Sd", S | P),
    (0xC2, "dmul", X, "Dd Sd Sd", S | P),
    (0xC3, "deq", X, "Du Sd Sd", P),
    (0xC4, "dge", X, "Du Sd Sd", P),
    (0xC5, "dlt", X, "Du Sd Sd", P),
    (0xC6, "dne", X, "Du Sd Sd", P),
    (0xC7, "dmov", X, "Dd Sd", S | P),
    (0xC8, "dmovc", X, "Dd Sc Sd Sd", S | P),
    (0xC9, "dtof", X, "Df Sd", S | P),
    (0xCA, "ftod", X, "Dd Sf", P),
    (0xCB, "eval_snapped", A, "Df Sf Si", S | P),
    (0xCC, "eval_sample_index", A, "Df Sf Si", S | P),
    (0xCD, "eval_centroid", A, "Df Sf", S | P),
    (0xCE, "dcl_gsinstances", C, "#count", Control.NONE),
    (0xCF, "abort", Group.DEBUG, "", Control.NONE),
    (0xD0, "debug_break", Group.DEBUG, "", Control.NONE),
    (0xD2, "ddiv", X, "Dd Sd Sd", S | P),
    (0xD3, "dfma", X, "Dd Sd Sd Sd", S | P),
    (0xD4, "drcp", X, "Dd Sd", S | P),
    (0xD5, "msad", N, "Du Su Su Su", P),
    (0xD6, "dtoi", X, "Di Sd", P),
    (0xD7, "dtou", X, "Du Sd", P),
    (0xD8, "itod", X, "Dd Si", P),
    (0xD9, "utod", X, "Dd Su", P),
    # D3D11.2 tiled-resource forms: a second destination receives the residency status.
    (0xDB, "gather4_s", R, "Dx Du Sf Sr Ss", Control.NONE),
    (0xDC, "gather4_c_s", R, "Df Du Sf Sr Ss Sf", Control.NONE),
    (0xDD, "gather4_po_s", R, "Dx Du Sf Si Sr Ss", Control.NONE),
    (0xDE, "gather4_po_c_s", R, "Df Du Sf Si Sr Ss Sf", Control.NONE),
    (0xDF, "ld_s", R, "Dx Du Si Sr", S),
    (0xE0, "ld_ms_s", R, "Dx Du Si Sr Si", S),
    (0xE1, "ld_uav_typed_s", R, "Dx Du Si Sr", Control.NONE),
    (0xE2, "ld_raw_s", R, "Dx Du Su Sr", Control.NONE),
    (0xE3, "ld_structured_s", R, "Dx Du Su Su Sr", Control.NONE),
    (0xE4, "sample_l_s", R, "Dx Du Sf Sr Ss Sf", S),
    (0xE5, "sample_c_lz_s", R, "Df Du Sf Sr Ss Sf", S),
    (0xE6, "sample_cl_s", R, "Dx Du Sf Sr Ss Sf", S),
    (0xE7, "sample_b_cl_s", R, "Dx Du Sf Sr Ss Sf Sf", S),
    (0xE8, "sample_d_cl_s", R, "Dx Du Sf Sr Ss Sf Sf Sf", S),
    (0xE9, "sample_c_cl_s", R, "Df Du Sf Sr Ss Sf Sf", S),
    (0xEA, "check_access_fully_mapped", R, "Du Su", Control.NONE),
)

#: Declarations that carry more dwords in shader model 5.1 (register spaces, D3D12 only):
#: appended to the row's layout when the program is 5.1.
SM51_EXTRA: Mapping[int, tuple[str, ...]] = MappingProxyType({
    0x58: ("#space",), 0x59: ("#size", "#space"), 0x5A: ("#space",), 0x9C: ("#space",),
    0x9D: ("#space",), 0x9E: ("#space",), 0xA1: ("#space",), 0xA2: ("#space",),
})

#: Custom-data classes (bits 11..31 of the custom-data opcode token) and the name each gets.
CUSTOM_DATA_CLASSES: Mapping[int, str] = MappingProxyType({
    0: "customdata_comment", 1: "customdata_debuginfo", 2: "customdata_opaque",
    3: "dcl_immediateConstantBuffer", 4: "customdata_shader_message",
    5: "customdata_clip_plane_constant_mappings_for_dx9",
})
IMMEDIATE_CONSTANT_BUFFER = 3


def _model(number: int) -> tuple[int, int]:
    if number <= 0x6A:
        return (4, 0)
    if number <= 0x6F:
        return (4, 1)
    return (5, 0)


def _check_layout(number: int, layout: tuple[str, ...]) -> None:
    for item in layout:
        if item.startswith("#"):
            continue
        if len(item) != 2 or item[0] not in ROLES or item[1] not in TYPES:
            raise ValueError(f"opcode {number:#x}: bad layout item {item!r}")


def _build() -> tuple[Mapping[int, OpcodeInfo], Mapping[str, OpcodeInfo]]:
    by_number: dict[int, OpcodeInfo] = {}
    by_name: dict[str, OpcodeInfo] = {}
    for number, name, group, layout_text, controls in _ROWS:
        layout = tuple(layout_text.split())
        _check_layout(number, layout)
        info = OpcodeInfo(number, name, group, layout, controls, _model(number))
        if number in by_number or name in by_name:
            raise ValueError(f"opcode {number:#x} {name}: listed twice")
        by_number[number] = info
        by_name[name] = info
    for alias in CUSTOM_DATA_CLASSES.values():
        by_name[alias] = by_number[0x35]
    return MappingProxyType(by_number), MappingProxyType(by_name)


BY_NUMBER, BY_NAME = _build()
OPCODES: tuple[OpcodeInfo, ...] = tuple(BY_NUMBER.values())
MAX_OPCODE = max(BY_NUMBER)


def by_number(number: int) -> OpcodeInfo | None:
    """The row for an opcode number, or None for a number no shader model defines."""
    return BY_NUMBER.get(number)


def by_name(name: str) -> OpcodeInfo | None:
    """The row for fxc's mnemonic (without _sat/_nz/_indexable... modifiers), or None."""
    return BY_NAME.get(name)


def layout_for(info: OpcodeInfo, major: int, minor: int) -> tuple[str, ...]:
    """The row's layout for a program of shader model major.minor (5.1 adds register spaces)."""
    if (major, minor) >= (5, 1):
        return info.layout + SM51_EXTRA.get(info.number, ())
    return info.layout


def table_text() -> str:
    """The table as a plain-text reference (for docs and `pvgpu shader` tooling)."""
    lines = [f"{'op':>4}  {'mnemonic':34} {'model':5} {'group':12} {'layout':28} controls"]
    for info in OPCODES:
        controls = "|".join(c.name.lower() for c in Control if c and c in info.controls and c.name)
        lines.append(f"{info.number:#04x}  {info.name:34} {info.model[0]}.{info.model[1]}   "
                     f"{info.group.value:12} {' '.join(info.layout) or '-':28} {controls}")
    return "\n".join(lines)
