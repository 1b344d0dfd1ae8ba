"""Resource declarations (t#, s#, u#, g#) as WGSL bindings, and the handlers of every
instruction that touches them (textures.py, memory.py, atomics.py), merged into HANDLERS.

Bindings follow the project's convention (`pvgpu.protocol.bindings`): `@group(stage)`, samplers
at 16 + s#, shader resources at 32 + t#, UAVs at 160 + u#; each declaration is one line of the
form the host's binding scan reads. What D3D11 decides at bind time comes from the
specialization: a texture's sample kind, a typed UAV's storage format, a typed buffer's
element size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ir
from . import atomics, memory, textures
from .slots import (DEFAULT_KIND, DIMS, KIND_SCALAR, RETURN_SCALAR, Buffer, Sampler, StorageTexture, Texture, binding, declare,
                    format_scalar, operand_name, usage)

if TYPE_CHECKING:
    from .writer import Writer

_D = ir.ResourceDimension
#: D3D11's largest structure stride and group-shared memory, in bytes
MAX_STRIDE = 2048
MAX_TGSM_BYTES = 32768
STORAGE_FORMATS = frozenset({
    "rgba8unorm", "rgba8snorm", "rgba8uint", "rgba8sint", "rgba16uint", "rgba16sint", "rgba16float",
    "r32uint", "r32sint", "r32float", "rg32uint", "rg32sint", "rg32float", "rgba32uint", "rgba32sint",
    "rgba32float", "bgra8unorm", "r8unorm", "r8snorm", "r8uint", "r8sint", "r16uint", "r16sint", "r16float",
    "rg8unorm", "rg8snorm", "rg8uint", "rg8sint", "rg16uint", "rg16sint", "rg16float", "rgb10a2uint",
    "rgb10a2unorm", "rg11b10ufloat"})


def _declared(ins: ir.Instruction, w: "Writer") -> ir.Operand:
    if not ins.operands:
        w.invalid(ins, "the declaration has no register operand")
    return ins.operands[0]


def _return_scalar(w: "Writer", ins: ir.Instruction) -> tuple[ir.ReturnType, str]:
    types = ins.return_types
    if not types:
        w.invalid(ins, "the declaration has no return type")
    first = types[0]
    if first not in RETURN_SCALAR:
        w.unsupported(ins, f"return type {first.name.lower()}")
    return first, RETURN_SCALAR[first]


def _typed_components(w: "Writer", ins: ir.Instruction, name: str, default: int) -> int:
    n = dict(w.spec.typed_buffers).get(name, default)
    if n not in (1, 2, 3, 4):
        w.invalid(ins, f"the specialization gives {name} {n} values per element (1..4)")
    return n


def dcl_resource(w: "Writer", ins: ir.Instruction) -> None:
    op = _declared(ins, w)
    name, b = binding(w, ins, op)
    dim = ins.resource_dimension
    return_type, scalar = _return_scalar(w, ins)
    if dim == _D.BUFFER:
        n = _typed_components(w, ins, name, 4)
        buf = Buffer(name, "typed", writable=False, atomic=False, components=n, stride=4 * n, scalar=scalar,
                     offset=ins.offset)
        declare(w, ins, name, buf)
        w.global_decl(f"@group({w.group}) @binding({b}) var<storage, read> {name}: array<u32>;")
        return
    shape = DIMS.get(dim)
    if shape is None:
        w.unsupported(ins, f"{name}: resource dimension {dim.name.lower() if dim is not None else 'unknown'} "
                           f"is not offered (WGSL has no multisampled array textures)")
    kinds = dict(w.spec.textures)
    slot = op.indices[0].immediate
    compared = name in usage(w).compared_textures
    kind = kinds.get(slot) or ("depth" if compared else DEFAULT_KIND[return_type])
    if kind not in KIND_SCALAR:
        w.invalid(ins, f"the specialization gives {name} the unknown texture kind {kind!r}")
    if kind == "depth" and not shape.depth_ok:
        w.unsupported(ins, f"{name}: a {dim.name.lower()} cannot be a depth texture in WGSL")
    if compared and kind != "depth":
        w.unsupported(ins, f"{name} is sampled with comparison but bound as a {kind} texture "
                           f"(WGSL compares against depth textures only)")
    tex = Texture(name, shape, kind, ins.offset)
    declare(w, ins, name, tex)
    w.global_decl(f"@group({w.group}) @binding({b}) var {name}: {tex.wgsl_type};")


def dcl_sampler(w: "Writer", ins: ir.Instruction) -> None:
    op = _declared(ins, w)
    name, b = binding(w, ins, op)
    mode = ins.sampler_mode or ir.SamplerMode.DEFAULT
    if mode == ir.SamplerMode.MONO:
        w.unsupported(ins, f"{name}: mono samplers")
    comparison = mode == ir.SamplerMode.COMPARISON
    declare(w, ins, name, Sampler(name, comparison))
    w.global_decl(f"@group({w.group}) @binding({b}) var {name}: {'sampler_comparison' if comparison else 'sampler'};")


def _buffer_decl(w: "Writer", b: int, buf: Buffer) -> None:
    element = "atomic<u32>" if buf.atomic else "u32"
    access = "read_write" if buf.writable else "read"
    w.global_decl(f"@group({w.group}) @binding({b}) var<storage, {access}> {buf.name}: array<{element}>;")


def _stride(w: "Writer", ins: ir.Instruction, name: str) -> int:
    stride = ins.structure_stride if ins.structure_stride else (ins.values[0] if ins.values else 0)
    if not 0 < stride <= MAX_STRIDE or stride % 4:
        w.invalid(ins, f"{name}: structure stride {stride} (a multiple of 4 in 4..{MAX_STRIDE})")
    return stride


def dcl_resource_raw(w: "Writer", ins: ir.Instruction) -> None:
    name, b = binding(w, ins, _declared(ins, w))
    buf = Buffer(name, "raw", writable=False, atomic=False, offset=ins.offset)
    declare(w, ins, name, buf)
    _buffer_decl(w, b, buf)


def dcl_resource_structured(w: "Writer", ins: ir.Instruction) -> None:
    name, b = binding(w, ins, _declared(ins, w))
    buf = Buffer(name, "structured", writable=False, atomic=False, stride=_stride(w, ins, name), offset=ins.offset)
    declare(w, ins, name, buf)
    _buffer_decl(w, b, buf)


def _uav_flags(w: "Writer", ins: ir.Instruction, name: str) -> None:
    if ins.rasterizer_ordered:
        w.unsupported(ins, f"{name}: rasterizer-ordered views")


def dcl_uav_raw(w: "Writer", ins: ir.Instruction) -> None:
    name, b = binding(w, ins, _declared(ins, w))
    _uav_flags(w, ins, name)
    buf = Buffer(name, "raw", writable=True, atomic=name in usage(w).atomic, offset=ins.offset)
    declare(w, ins, name, buf)
    _buffer_decl(w, b, buf)


def dcl_uav_structured(w: "Writer", ins: ir.Instruction) -> None:
    name, b = binding(w, ins, _declared(ins, w))
    _uav_flags(w, ins, name)
    buf = Buffer(name, "structured", writable=True, atomic=name in usage(w).atomic, stride=_stride(w, ins, name),
                 offset=ins.offset)
    declare(w, ins, name, buf)
    _buffer_decl(w, b, buf)


def dcl_uav_typed(w: "Writer", ins: ir.Instruction) -> None:
    op = _declared(ins, w)
    name, b = binding(w, ins, op)
    _uav_flags(w, ins, name)
    dim = ins.resource_dimension
    _, scalar = _return_scalar(w, ins)
    use = usage(w)
    loaded = name in use.loaded_uavs
    if dim == _D.BUFFER:
        n = _typed_components(w, ins, name, 1 if loaded or name in use.atomic else 4)
        buf = Buffer(name, "typed", writable=True, atomic=name in use.atomic, components=n, stride=4 * n,
                     scalar=scalar, offset=ins.offset)
        declare(w, ins, name, buf)
        _buffer_decl(w, b, buf)
        return
    shape = DIMS.get(dim)
    if shape is None or not shape.storage_ok:
        w.unsupported(ins, f"{name}: UAVs of dimension {dim.name.lower() if dim is not None else 'unknown'}")
    slot = op.indices[0].immediate
    fmt = dict(w.spec.storage_formats).get(slot)
    atomic = name in use.atomic and "texture-atomic" in w.spec.features
    if fmt is None:
        fmt = ("r32" if loaded or atomic else "rgba32") + {"f32": "float", "u32": "uint", "i32": "sint"}[scalar]
    if fmt not in STORAGE_FORMATS:
        w.unsupported(ins, f"{name}: storage format {fmt!r}")
    if format_scalar(fmt) != scalar:
        w.unsupported(ins, f"{name} is declared {scalar} but specialized to {fmt}")
    if atomic and fmt not in ("r32uint", "r32sint"):
        w.invalid(ins, f"{name}: atomics on a typed UAV of format {fmt} (D3D11: R32_UINT or R32_SINT only)")
    # naga's storage-texture atomics need the "atomic" access mode (which also loads and stores)
    access = "atomic" if atomic else "read_write" if loaded else "write"
    tex = StorageTexture(name, shape, fmt, access, ins.offset)
    declare(w, ins, name, tex)
    w.global_decl(f"@group({w.group}) @binding({b}) var {name}: {tex.wgsl_type};")


def _tgsm(w: "Writer", ins: ir.Instruction, layout: str, stride: int, size: int) -> None:
    op = _declared(ins, w)
    name = operand_name(op)
    if name is None or op.type != ir.OperandType.THREAD_GROUP_SHARED_MEMORY:
        w.invalid(ins, "expected a g# register")
    if w.stage != ir.ProgramType.COMPUTE:
        w.invalid(ins, "group-shared memory outside a compute shader")
    if not 0 < size <= MAX_TGSM_BYTES or size % 4:
        w.invalid(ins, f"{name}: {size} bytes of group-shared memory (a multiple of 4 up to {MAX_TGSM_BYTES})")
    atomic = name in usage(w).atomic
    buf = Buffer(name, layout, writable=True, atomic=atomic, stride=stride, words=size // 4, offset=ins.offset)
    declare(w, ins, name, buf)
    w.global_decl(f"var<workgroup> {name}: array<{'atomic<u32>' if atomic else 'u32'}, {size // 4}>;")


def dcl_tgsm_raw(w: "Writer", ins: ir.Instruction) -> None:
    if len(ins.values) < 1:
        w.invalid(ins, "no byte count")
    _tgsm(w, ins, "raw", 4, ins.values[0])


def dcl_tgsm_structured(w: "Writer", ins: ir.Instruction) -> None:
    if len(ins.values) < 2:
        w.invalid(ins, "no stride and count")
    stride, count = ins.values[0], ins.values[1]
    if not 0 < stride <= MAX_STRIDE or stride % 4:
        w.invalid(ins, f"structure stride {stride} (a multiple of 4 in 4..{MAX_STRIDE})")
    if count > MAX_TGSM_BYTES:
        w.invalid(ins, f"{count} structures of group-shared memory")
    _tgsm(w, ins, "structured", stride, stride * count)


DECLARATIONS = {
    "dcl_resource": dcl_resource,
    "dcl_sampler": dcl_sampler,
    "dcl_resource_raw": dcl_resource_raw,
    "dcl_resource_structured": dcl_resource_structured,
    "dcl_uav_raw": dcl_uav_raw,
    "dcl_uav_structured": dcl_uav_structured,
    "dcl_uav_typed": dcl_uav_typed,
    "dcl_tgsm_raw": dcl_tgsm_raw,
    "dcl_tgsm_structured": dcl_tgsm_structured,
}

HANDLERS = {**DECLARATIONS, **textures.HANDLERS, **memory.HANDLERS, **atomics.HANDLERS}
