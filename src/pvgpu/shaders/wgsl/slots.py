"""What the resource declarations of a program say about each t#, s#, u# and g# slot, and
how a resource operand finds its slot.

The declaration handlers (resources.py) record one entry per slot in `Writer.decl` under
keys "t3", "s1", "u2", "g0"; the instruction handlers look them up with `slot_of`. A slot's
WGSL variable has the same name. `usage` scans the whole program once, before the
declarations are written, because a declaration's WGSL type depends on how the slot is
used later (atomics need `atomic<u32>` elements, comparison sampling a depth texture).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...protocol.bindings import binding_for
from .. import ir

if TYPE_CHECKING:
    from .writer import Writer

_T = ir.OperandType
_D = ir.ResourceDimension

#: operand type -> (name prefix, binding kind of the convention)
PREFIXES: dict[ir.OperandType, tuple[str, str | None]] = {
    _T.RESOURCE: ("t", "shader_resource"),
    _T.SAMPLER: ("s", "sampler"),
    _T.UNORDERED_ACCESS_VIEW: ("u", "unordered_access"),
    _T.THREAD_GROUP_SHARED_MEMORY: ("g", None),
}


@dataclass(frozen=True)
class Dim:
    """How a D3D texture dimension maps to WGSL: the `texture_<wgsl>` type, the address
    components that locate a texel (without the array index), whether an array index
    follows them, and the shape flags the instructions care about."""
    wgsl: str
    coords: int
    array: bool = False
    one_d: bool = False
    cube: bool = False
    ms: bool = False
    depth_ok: bool = True
    storage_ok: bool = False

    @property
    def offsets(self) -> int:
        """Components of a WGSL texel offset (0: the dimension takes none)."""
        return 0 if self.cube or self.ms else max(self.coords, 2)

    @property
    def wgsl_coords(self) -> int:
        return 2 if self.one_d else self.coords


DIMS: dict[ir.ResourceDimension, Dim] = {
    _D.TEXTURE1D: Dim("2d", 1, one_d=True, storage_ok=True),
    _D.TEXTURE1DARRAY: Dim("2d_array", 1, array=True, one_d=True, storage_ok=True),
    _D.TEXTURE2D: Dim("2d", 2, storage_ok=True),
    _D.TEXTURE2DARRAY: Dim("2d_array", 2, array=True, storage_ok=True),
    _D.TEXTURE2DMS: Dim("multisampled_2d", 2, ms=True),
    _D.TEXTURE3D: Dim("3d", 3, depth_ok=False, storage_ok=True),
    _D.TEXTURECUBE: Dim("cube", 3, cube=True),
    _D.TEXTURECUBEARRAY: Dim("cube_array", 3, array=True, cube=True),
}

#: D3D return type -> the texture kind a slot defaults to (specialization.TEXTURE_KINDS)
DEFAULT_KIND: dict[ir.ReturnType, str] = {
    ir.ReturnType.FLOAT: "float", ir.ReturnType.UNORM: "float", ir.ReturnType.SNORM: "float",
    ir.ReturnType.UINT: "uint", ir.ReturnType.SINT: "sint",
}
#: texture kind -> the scalar type its reads give
KIND_SCALAR = {"float": "f32", "unfilterable": "f32", "depth": "f32", "uint": "u32", "sint": "i32"}
#: return type -> the scalar type of a buffer/UAV's values
RETURN_SCALAR: dict[ir.ReturnType, str] = {
    ir.ReturnType.FLOAT: "f32", ir.ReturnType.UNORM: "f32", ir.ReturnType.SNORM: "f32",
    ir.ReturnType.UINT: "u32", ir.ReturnType.SINT: "i32",
}


@dataclass
class Texture:
    """A t# texture (dcl_resource of a texture dimension)."""
    name: str
    dim: Dim
    kind: str  # one of specialization.TEXTURE_KINDS
    offset: int

    @property
    def scalar(self) -> str:
        return KIND_SCALAR[self.kind]

    @property
    def wgsl_type(self) -> str:
        if self.kind == "depth":
            return f"texture_depth_{self.dim.wgsl}"
        return f"texture_{self.dim.wgsl}<{self.scalar}>"


@dataclass
class Buffer:
    """A buffer SRV/UAV (t# or u#) or group-shared memory (g#), all as arrays of 32-bit words.

    `layout` is "typed", "raw" or "structured"; `stride` the structure's bytes (structured),
    `components` the words per element (typed); `scalar` the declared value type (typed:
    decides the default 1 of a missing alpha); `words` the fixed size of g# memory."""
    name: str
    layout: str
    writable: bool
    atomic: bool
    stride: int = 4
    components: int = 1
    scalar: str = "u32"
    words: int | None = None
    offset: int = 0

    @property
    def shared(self) -> bool:
        return self.words is not None

    def length(self) -> str:
        """A u32 WGSL expression: the number of 32-bit words the buffer holds."""
        return f"{self.words}u" if self.shared else f"arrayLength(&{self.name})"

    def load(self, index: str) -> str:
        """The word at `index` (a u32 expression the caller has bounds-checked)."""
        return f"atomicLoad(&{self.name}[{index}])" if self.atomic else f"{self.name}[{index}]"

    def store(self, index: str, value: str) -> str:
        return (f"atomicStore(&{self.name}[{index}], {value});" if self.atomic
                else f"{self.name}[{index}] = {value};")


@dataclass
class StorageTexture:
    """A u# typed texture UAV (`texture_storage_*`)."""
    name: str
    dim: Dim
    format: str
    access: str
    offset: int

    @property
    def scalar(self) -> str:
        return format_scalar(self.format)

    @property
    def wgsl_type(self) -> str:
        return f"texture_storage_{self.dim.wgsl}<{self.format}, {self.access}>"


@dataclass
class Sampler:
    name: str
    comparison: bool


def format_scalar(fmt: str) -> str:
    """The texel scalar of a WebGPU storage format."""
    if fmt.endswith("uint"):
        return "u32"
    if fmt.endswith("sint"):
        return "i32"
    return "f32"


@dataclass
class Usage:
    """How the program uses its slots (one scan, before any declaration is written)."""
    atomic: set[str] = field(default_factory=set)  # u#/g# names touched by an atomic
    compared_textures: set[str] = field(default_factory=set)  # t# read by *_c instructions
    loaded_uavs: set[str] = field(default_factory=set)  # u# read by ld_uav_typed / ld_raw / ld_structured
    stored_uavs: set[str] = field(default_factory=set)


_COMPARE = {"sample_c", "sample_c_lz", "gather4_c", "gather4_po_c"}
_LOADS = {"ld_uav_typed", "ld_raw", "ld_structured", "ld"}
_STORES = {"store_uav_typed", "store_raw", "store_structured"}
_COUNTERS = {"imm_atomic_alloc", "imm_atomic_consume"}  # touch the UAV's hidden counter, not its elements


def operand_name(op: ir.Operand) -> str | None:
    """"t3" for a t3 operand (immediate register number), None for anything else."""
    entry = PREFIXES.get(op.type)
    if entry is None or len(op.indices) != 1 or op.indices[0].relative is not None:
        return None
    return f"{entry[0]}{op.indices[0].immediate}"


def usage(w: "Writer") -> Usage:
    found = w.decl.get("usage")
    if found is not None:
        return found
    u = Usage()
    for ins in w.program.instructions:
        names = [operand_name(o) for o in ins.operands]
        if "atomic" in ins.name and ins.name not in _COUNTERS:
            u.atomic.update(n for n in names if n and n[0] in "ug")
        if ins.name in _COMPARE:
            u.compared_textures.update(n for n in names if n and n[0] == "t")
        if ins.name in _LOADS:
            u.loaded_uavs.update(n for n in names if n and n[0] == "u")
        if ins.name in _STORES:
            u.stored_uavs.update(n for n in names if n and n[0] == "u")
    w.decl["usage"] = u
    return u


def slot_number(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> int:
    """The register number of a t#/s#/u#/g# operand; SM5.1's ranges and dynamic indices are refused."""
    prefix = PREFIXES[op.type][0]
    if len(op.indices) != 1:
        w.unsupported(ins, f"a {prefix}# operand with {len(op.indices)} index dimensions (shader model 5.1 "
                           f"register ranges)")
    index = op.indices[0]
    if index.relative is not None:
        w.unsupported(ins, f"dynamic indexing of {prefix}# registers")
    return index.immediate


def binding(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> tuple[str, int]:
    """(name, @binding number) of a declared t#/s#/u# operand; ShaderInvalid beyond the slot ranges."""
    if PREFIXES.get(op.type, (None, None))[1] is None:
        w.invalid(ins, f"declares a {op.type.name} operand, not a resource, sampler or UAV")
    prefix, kind = PREFIXES[op.type]
    n = slot_number(w, ins, op)
    try:
        b = binding_for(kind, n)
    except ValueError as e:
        w.invalid(ins, str(e))
    return f"{prefix}{n}", b


def declare(w: "Writer", ins: ir.Instruction, name: str, entry: object) -> None:
    key = f"slot:{name}"
    if key in w.decl:
        w.invalid(ins, f"{name} is declared twice")
    w.decl[key] = entry


def slot_of(w: "Writer", ins: ir.Instruction, op: ir.Operand, *kinds: type) -> object:
    """The declared entry of a resource operand, checked to be one of `kinds`."""
    if op.type not in PREFIXES:
        w.invalid(ins, f"expected a resource, sampler, UAV or shared-memory operand, not {op.type.name}")
    prefix = PREFIXES[op.type][0]
    name = f"{prefix}{slot_number(w, ins, op)}"
    entry = w.decl.get(f"slot:{name}")
    if entry is None:
        w.invalid(ins, f"{name} is used but not declared")
    if kinds and not isinstance(entry, kinds):
        what = {Texture: "a texture", Buffer: "a buffer", StorageTexture: "a typed texture UAV",
                Sampler: "a sampler"}
        w.invalid(ins, f"{name} is {what.get(type(entry), type(entry).__name__)}, not "
                       f"{' or '.join(what.get(k, k.__name__) for k in kinds)}")
    return entry


def operand_of(ins: ir.Instruction, *types: ir.OperandType) -> list[ir.Operand]:
    return [o for o in ins.operands if o.type in types]


def swizzled(expr: str, op: ir.Operand) -> str:
    """`expr` (a vec4) with a resource operand's swizzle applied (D3D applies it to the result)."""
    if op.selection == ir.Selection.MASK:
        return expr
    sw = op.swizzle if op.selection == ir.Selection.SWIZZLE else (op.swizzle[0],) * 4
    text = "".join("xyzw"[c] for c in sw)
    return expr if text == "xyzw" else f"({expr}).{text}"
