"""The translator's public API: DXBC bytes -> a checked, decoded shader -> WGSL.

    shader = load(code)                 # parse, decode, check; cache per distinct blob
    vs_vary, ps_vary = link(vs, ps)     # inter-stage varyings matched by semantic
    wgsl = to_wgsl(shader, Specialization(varyings=vs_vary, ...))

Sans-IO: no wgpu, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.bindings import binding_for
from . import container, decoder, ir
from .errors import ShaderInvalid, ShaderUnsupported
from .specialization import DEFAULT, Specialization, Varying

SUPPORTED_STAGES = (ir.ProgramType.VERTEX, ir.ProgramType.PIXEL, ir.ProgramType.COMPUTE)
_BUFFER_KINDS = {"dcl_resource_raw": "raw", "dcl_resource_structured": "structured"}
_UAV_KINDS = {"dcl_uav_typed": "typed", "dcl_uav_raw": "raw", "dcl_uav_structured": "structured"}


@dataclass(frozen=True)
class DxbcShader:
    """A loaded (parsed, decoded, checked) DXBC shader and the summary of its declarations."""
    blob: ir.ShaderBlob
    program: ir.Program
    stage: ir.ProgramType
    textures: dict[int, tuple[ir.ResourceDimension, ir.ReturnType]]
    buffers: dict[int, str]
    uavs: dict[int, tuple[ir.ResourceDimension, str]]
    samplers: dict[int, ir.SamplerMode]
    constant_buffers: dict[int, int]
    workgroup_size: tuple[int, int, int] | None
    #: which Specialization fields change this shader's translation beyond its bindings:
    #: "instance_id" (a VS that reads SV_InstanceID: `base_instance`), "vertex_id" (one that
    #: reads SV_VertexID: `base_vertex`), "sample_count" (the
    #: rasterizer operand of sampleinfo/samplepos: `sample_count`). The host leaves the others
    #: at their defaults so that one translation serves every draw.
    needs: frozenset[str] = frozenset()

    def __hash__(self) -> int:
        return hash(self.blob.tokens)


def _slot(ins: ir.Instruction, kind: str) -> int:
    if not ins.operands or not ins.operands[0].indices:
        raise ShaderInvalid(f"{ins.name} without a register", ins.offset)
    op = ins.operands[0]
    slot = op.indices[0].immediate
    if op.indices[0].relative is not None:
        raise ShaderInvalid(f"{ins.name} with a relative register", ins.offset)
    try:
        binding_for(kind, slot)
    except ValueError:
        raise ShaderUnsupported(f"{ins.name}: slot {slot} is outside the {kind.replace('_', ' ')} slots pvgpu offers",
                                ins.offset) from None
    return slot


def _once(table: dict, slot: int, value, ins: ir.Instruction, what: str) -> None:
    if slot in table:
        raise ShaderInvalid(f"{ins.name}: {what}{slot} is declared twice", ins.offset)
    table[slot] = value


def load(code: bytes) -> DxbcShader:
    """Parses, decodes and checks a DXBC blob. Raises ShaderInvalid / ShaderUnsupported."""
    blob = container.parse(code)
    if blob.program_type not in SUPPORTED_STAGES:
        raise ShaderUnsupported(f"{blob.program_type.name.lower()} shaders are not supported "
                                "(vertex, pixel and compute only)")
    if (blob.major, blob.minor) == (5, 1):
        raise ShaderUnsupported("shader model 5.1 is Direct3D 12 only")
    program = decoder.decode(blob.tokens)
    if program.type != blob.program_type:
        raise ShaderInvalid("the program's version token disagrees with its container")
    textures: dict[int, tuple[ir.ResourceDimension, ir.ReturnType]] = {}
    buffers: dict[int, str] = {}
    uavs: dict[int, tuple[ir.ResourceDimension, str]] = {}
    samplers: dict[int, ir.SamplerMode] = {}
    cbs: dict[int, int] = {}
    group: tuple[int, int, int] | None = None
    for ins in program.instructions:
        name = ins.name
        if not name.startswith("dcl_"):
            continue
        if name == "dcl_resource":
            slot = _slot(ins, "shader_resource")
            dim = ins.resource_dimension or ir.ResourceDimension.UNKNOWN
            if dim == ir.ResourceDimension.BUFFER:
                if slot in textures:
                    raise ShaderInvalid(f"{name}: t{slot} is declared twice", ins.offset)
                _once(buffers, slot, "typed", ins, "t")
            elif dim in (ir.ResourceDimension.UNKNOWN, ir.ResourceDimension.RAW_BUFFER,
                         ir.ResourceDimension.STRUCTURED_BUFFER):
                raise ShaderInvalid(f"{name}: t{slot} has dimension {dim.name}", ins.offset)
            else:
                if slot in buffers:
                    raise ShaderInvalid(f"{name}: t{slot} is declared twice", ins.offset)
                rt = ins.return_types[0] if ins.return_types else ir.ReturnType.FLOAT
                _once(textures, slot, (dim, rt), ins, "t")
        elif name in _BUFFER_KINDS:
            slot = _slot(ins, "shader_resource")
            if slot in textures:
                raise ShaderInvalid(f"{name}: t{slot} is declared twice", ins.offset)
            _once(buffers, slot, _BUFFER_KINDS[name], ins, "t")
        elif name in _UAV_KINDS:
            slot = _slot(ins, "unordered_access")
            dim = {"dcl_uav_raw": ir.ResourceDimension.RAW_BUFFER,
                   "dcl_uav_structured": ir.ResourceDimension.STRUCTURED_BUFFER}.get(
                name, ins.resource_dimension or ir.ResourceDimension.UNKNOWN)
            if dim == ir.ResourceDimension.UNKNOWN:
                raise ShaderInvalid(f"{name}: u{slot} has no dimension", ins.offset)
            _once(uavs, slot, (dim, _UAV_KINDS[name]), ins, "u")
        elif name == "dcl_sampler":
            slot = _slot(ins, "sampler")
            _once(samplers, slot, ins.sampler_mode or ir.SamplerMode.DEFAULT, ins, "s")
        elif name == "dcl_constantbuffer":
            slot = _slot(ins, "constant_buffer")
            op = ins.operands[0]
            if len(op.indices) != 2:
                raise ShaderInvalid(f"{name}: expects cb#[size]", ins.offset)
            size = op.indices[1].immediate
            if size > 4096:
                raise ShaderInvalid(f"{name}: cb{slot} of {size} vectors (at most 4096)", ins.offset)
            _once(cbs, slot, size, ins, "cb")
        elif name == "dcl_thread_group":
            if len(ins.values) != 3:
                raise ShaderInvalid(f"{name}: expects three sizes", ins.offset)
            x, y, z = ins.values
            if not (1 <= x <= 1024 and 1 <= y <= 1024 and 1 <= z <= 64 and x * y * z <= 1024):
                raise ShaderInvalid(f"{name}: thread group {x}x{y}x{z} is outside D3D11's limits", ins.offset)
            group = (x, y, z)
    if blob.program_type == ir.ProgramType.COMPUTE and group is None:
        raise ShaderInvalid("a compute shader without dcl_thread_group")
    return DxbcShader(blob=blob, program=program, stage=blob.program_type, textures=textures,
                      buffers=buffers, uavs=uavs, samplers=samplers, constant_buffers=cbs,
                      workgroup_size=group, needs=_needs(blob, program))


def _needs(blob: ir.ShaderBlob, program: ir.Program) -> frozenset[str]:
    needs = set()
    if blob.program_type == ir.ProgramType.VERTEX and any(
            e.system_value == ir.SystemValue.INSTANCE_ID for e in blob.inputs):
        needs.add("instance_id")
    if blob.program_type == ir.ProgramType.VERTEX and any(
            e.system_value == ir.SystemValue.VERTEX_ID for e in blob.inputs):
        needs.add("vertex_id")
    if any(op.type == ir.OperandType.RASTERIZER for ins in program.instructions for op in ins.operands):
        needs.add("sample_count")
    return frozenset(needs)


def link(vs: DxbcShader, ps: DxbcShader | None) -> tuple[tuple[Varying, ...], tuple[Varying, ...]]:
    """(VS outputs, PS inputs): each user VS output at location = its position among the VS's
    user outputs; PS inputs matched by semantic name (case-insensitive) and index, with the
    PS's interpolation (integers flat). A PS input no VS output provides is left out (it
    reads 0); an unused VS output keeps its location, "perspective" (flat if integer)."""
    from .wgsl.interface import SCALAR, ps_interpolations, user_elements
    if vs.stage != ir.ProgramType.VERTEX:
        raise ValueError("link: the first shader must be a vertex shader")
    if ps is not None and ps.stage != ir.ProgramType.PIXEL:
        raise ValueError("link: the second shader must be a pixel shader")
    ps_elements = {}
    interps: dict[int, str] = {}
    if ps is not None:
        ps_elements = {(e.semantic_name.upper(), e.semantic_index): e for e in user_elements(ps.blob.inputs)}
        interps = ps_interpolations(ps.program)
    vs_out: list[Varying] = []
    ps_in: list[Varying] = []
    for k, e in enumerate(user_elements(vs.blob.outputs)):
        key = (e.semantic_name.upper(), e.semantic_index)
        scalar = SCALAR.get(e.component_type, "f32")
        p = ps_elements.get(key)
        interp = interps.get(p.register, "perspective") if p is not None else "perspective"
        if scalar != "f32":
            interp = "flat"
        v = Varying(key[0], key[1], k, interp, scalar)
        vs_out.append(v)
        if p is not None:
            ps_in.append(v)
    return tuple(vs_out), tuple(ps_in)


def to_wgsl(shader: DxbcShader, spec: Specialization = DEFAULT) -> str:
    """The WGSL module of `shader` specialized on `spec`. Raises ShaderUnsupported for what
    pvgpu does not offer (naming the instruction and its offset), ShaderInvalid for a program
    that breaks D3D's rules."""
    from .wgsl.writer import Writer
    return Writer(shader, spec).translate()
