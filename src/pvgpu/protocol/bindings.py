"""The WGSL binding convention: where a D3D11 resource slot appears in a WGSL shader.

Resources of shader stage S live in `@group(S)` (`ShaderStage`: VERTEX=0, PIXEL=1,
COMPUTE=2). Within the group, each kind of slot has its own range of binding numbers, so a
shader author (or a translator) can write bindings without knowing which other kinds a
shader uses.

What a slot holds decides its WGSL type: a texture shader-resource view is a `texture_*`
(1D textures are 2D textures of height 1 here: `texture_2d` / `texture_2d_array`, sampled at
v = 0.5), a buffer shader-resource view a `var<storage, read>` array (structured: of the
structure, raw: of u32, typed: of the element type), a buffer unordered-access view a
`var<storage, read_write>` array, a texture unordered-access view a `texture_storage_*`.
The hidden counter of an append/consume or counter view (BufferViewFlag APPEND / COUNTER) in
UAV slot n is a `var<storage, read_write>` `atomic<u32>` of its own, at the UAV-counter binding
of slot n.
"""

from __future__ import annotations

from .spec import MAX_CONSTANT_BUFFERS, MAX_SAMPLERS, MAX_SHADER_RESOURCES, MAX_UNORDERED_ACCESS_VIEWS

CB_BINDING_BASE = 0
SAMPLER_BINDING_BASE = 16
SRV_BINDING_BASE = 32
UAV_BINDING_BASE = 160
UAV_COUNTER_BINDING_BASE = 176

#: kind -> (first binding, number of slots), in binding order.
RANGES: dict[str, tuple[int, int]] = {
    "constant_buffer": (CB_BINDING_BASE, MAX_CONSTANT_BUFFERS),
    "sampler": (SAMPLER_BINDING_BASE, MAX_SAMPLERS),
    "shader_resource": (SRV_BINDING_BASE, MAX_SHADER_RESOURCES),
    "unordered_access": (UAV_BINDING_BASE, MAX_UNORDERED_ACCESS_VIEWS),
    "uav_counter": (UAV_COUNTER_BINDING_BASE, MAX_UNORDERED_ACCESS_VIEWS),
}

_ends = [base + n for base, n in RANGES.values()]
_bases = [base for base, _ in RANGES.values()]
assert all(end <= nxt for end, nxt in zip(_ends, _bases[1:])), "binding ranges overlap"


def binding_for(kind: str, slot: int) -> int:
    """`@binding` number of slot `slot` of `kind` (a key of RANGES)."""
    if kind not in RANGES:
        raise ValueError(f"unknown slot kind {kind!r}; expected one of {', '.join(RANGES)}")
    base, n = RANGES[kind]
    if not 0 <= slot < n:
        raise ValueError(f"{kind} slot {slot} is out of range 0..{n - 1}")
    return base + slot


def slot_for(binding: int) -> tuple[str, int]:
    """(kind, slot) that `@binding(binding)` stands for; ValueError outside every range."""
    for kind, (base, n) in RANGES.items():
        if base <= binding < base + n:
            return kind, binding - base
    ranges = ", ".join(f"{kind} {base}..{base + n - 1}" for kind, (base, n) in RANGES.items())
    raise ValueError(f"@binding({binding}) is outside the convention's ranges ({ranges})")
