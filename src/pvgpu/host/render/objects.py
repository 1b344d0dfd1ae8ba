"""Host-side objects behind guest ids. Each has a serial number, unique for the life of the
process, so pipeline and bind-group caches never confuse a new object with a dead one."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ...protocol.enums import DxgiFormat, ShaderStage

_serials = itertools.count(1)


def next_serial() -> int:
    return next(_serials)


@dataclass(eq=False)
class Buffer:
    byte_width: int
    usage: int
    bind_flags: int
    cpu_access_flags: int
    wgpu_usage: int
    backing: Any  # the current wgpu buffer (replaced when a full update renames it)
    alloc_size: int
    misc_flags: int = 0
    structure_byte_stride: int = 0
    shared: Any = None  # buffers are never shared (D3D11 shares 2D textures only)
    serial: int = field(default_factory=next_serial)
    used_generation: int = -1  # encoder generation that last referenced the backing
    #: offset in the renderer's uniform ring holding the current contents (a discarded or wholly
    #: updated constant buffer), or -1: the backing holds them (Renderer._ring_write)
    ring_offset: int = -1
    ring: Any = None  # the wgpu buffer holding them while ring_offset >= 0: the ring or a replay slab
    ring_slab: Any = None  # that slab (capture.Slab), None for the shared ring
    #: the memory quota (memory.py): bytes charged, live views holding it, released by the guest
    charged: int = 0
    holders: int = 0
    released: bool = False

    @property
    def nbytes(self) -> int:
        return self.alloc_size


@dataclass(eq=False)
class Texture:
    """A Texture1D, Texture2D or Texture3D. A 1D texture is a wgpu 2D texture of height 1, so
    it keeps D3D11's mips and arrays (WebGPU's 1D textures have neither)."""

    width: int
    height: int
    mip_levels: int
    format: DxgiFormat
    wgpu_format: str
    usage: int
    bind_flags: int
    cpu_access_flags: int
    texture: Any
    bytes_per_texel: int
    misc_flags: int = 0
    array_size: int = 1
    sample_count: int = 1
    serial: int = field(default_factory=next_serial)
    used_generation: int = -1
    view_count: int = 0  # live views (ResizeBuffers needs none)
    dimension: str = "2d"  # D3D11's kind: "1d", "2d" or "3d"
    depth: int = 1  # 3D textures only
    shared: Any = None  # the SharedSurface of a RESOURCE_MISC_SHARED texture
    shared_version: int = 0  # the surface version this texture holds
    #: the memory quota (memory.py): bytes charged, live views and swap chains holding it,
    #: released by the guest
    charged: int = 0
    holders: int = 0
    released: bool = False

    def mip_size(self, mip: int) -> tuple[int, int]:
        return max(1, self.width >> mip), max(1, self.height >> mip)

    def mip_depth(self, mip: int) -> int:
        return max(1, self.depth >> mip)

    @property
    def is_depth(self) -> bool:
        return self.wgpu_format.startswith("depth")

    @property
    def subresources(self) -> int:
        return self.mip_levels * self.array_size

    def split(self, subresource: int) -> tuple[int, int]:
        """(mip, array slice) of a D3D11 subresource index (mip + slice * mip_levels)."""
        return subresource % self.mip_levels, subresource // self.mip_levels

    @property
    def nbytes(self) -> int:
        total = 0
        for m in range(self.mip_levels):
            w, h = self.mip_size(m)
            total += w * h * self.mip_depth(m) * self.bytes_per_texel
        host_copy = self.shared.nbytes if self.shared is not None and self.shared.created else 0
        return total * self.array_size + host_copy


@dataclass(eq=False)
class View:
    """A render-target, depth-stencil, shader-resource or unordered-access view of a texture."""

    resource: Texture
    format: DxgiFormat
    wgpu_format: str
    view: Any
    base_mip: int
    mip_count: int
    first_slice: int = 0
    slices: int = 1
    read_only: int = 0  # DsvFlag bits of a depth-stencil view
    depth_slice: Any = None  # render-target view of a Texture3D slice: (stand-in 2D texture, W slice)
    serial: int = field(default_factory=next_serial)
    charged: int = 0  # the stand-in's bytes charged to the memory quota (memory.py)

    @property
    def size(self) -> tuple[int, int]:
        return self.resource.mip_size(self.base_mip)


@dataclass(eq=False)
class BufferView:
    """A shader-resource or unordered-access view of a byte range of a buffer."""

    resource: Buffer
    offset: int
    size: int
    format: DxgiFormat  # UNKNOWN for structured views, R32_TYPELESS for raw ones
    components: int  # 32-bit values per element that a clear fills (1 for raw and structured views)
    counter: Any = None  # the hidden counter of an APPEND/COUNTER UAV: a 4-byte wgpu buffer (renamed on a new count)
    counter_used: int = -1  # encoder generation that last referenced the counter
    serial: int = field(default_factory=next_serial)


@dataclass(eq=False)
class Sampler:
    sampler: Any
    serial: int = field(default_factory=next_serial)


@dataclass(eq=False)
class InputLayout:
    elements: tuple  # (location, format str, slot, offset, per_instance)
    slots: tuple  # sorted input slots used
    slot_reads: dict  # slot -> (per_instance, bytes read past a record's start)
    named: tuple = ()  # (NAME, semantic index, format str, slot, offset, per_instance) for DXBC matching
    matched: dict = field(default_factory=dict)  # DXBC vertex shader serial -> its elements (as `elements`)
    serial: int = field(default_factory=next_serial)


@dataclass(eq=False)
class Shader:
    stage: ShaderStage
    module: Any
    bindings: frozenset  # binding numbers in the stage's group
    binding_types: dict = field(default_factory=dict)  # binding -> its declaration (shaders.declared_kind)
    slots: tuple = ()  # (binding, slot kind, slot, declaration) in binding order, for the bind-group builder
    serial: int = field(default_factory=next_serial)
    #: the explicit bind group layout of the stage's group (uniforms with dynamic offsets), or
    #: None where the declarations could not be mapped to one (the pipeline then uses "auto")
    bind_group_layout: Any = None


@dataclass(eq=False)
class Query:
    type: int
    active: bool = False
    slots: list = field(default_factory=list)  # occlusion query-set slots, one per render pass
    ended: bool = False  # End was recorded at least once
    ia_counts: list = field(default_factory=lambda: [0, 0])  # PIPELINE_STATISTICS: IA vertices, primitives
    value: int | None = None  # the last result once the GPU has it (None while pending)
    serial: int = field(default_factory=next_serial)


@dataclass(eq=False)
class SwapChain:
    back_buffer: Texture
    buffer_count: int
    presented: int = 0
    serial: int = field(default_factory=next_serial)
