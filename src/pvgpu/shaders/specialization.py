"""What a translated shader is specialized on: what WGSL fixes when the module is compiled
but D3D11 leaves to bind time. The host builds one from what is bound (and from the other
stage, for the varyings); it is part of the pipeline cache key, so it must stay a small,
hashable value. Every field has a default that follows the shader's own declarations, which
is what `pvgpu shader wgsl` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Texture sample kinds a t# slot can be specialized to (WGSL `texture_*<f32|u32|i32>` or
#: `texture_depth_*`; "unfilterable" is f32 read from a format WebGPU cannot filter).
TEXTURE_KINDS = ("float", "unfilterable", "depth", "uint", "sint")
#: Interpolation of a linked varying (WGSL `@interpolate`).
INTERPOLATIONS = ("perspective", "perspective-centroid", "perspective-sample", "linear", "linear-centroid",
                  "linear-sample", "flat")


@dataclass(frozen=True)
class Varying:
    """One inter-stage value: a signature element (semantic name upper-cased, index) carried
    at `location` with `interpolation`, as a vec4 of `scalar` ("f32", "u32" or "i32") whose
    .x is the element's first component."""
    semantic: str
    index: int
    location: int
    interpolation: str = "perspective"
    scalar: str = "f32"


@dataclass(frozen=True)
class Specialization:
    """Bind-time facts a translation depends on; each tuple is sorted (slot, value) pairs.

    - `vertex_inputs`: VS input location (the element's position in the ISGN) -> scalar type
      of the attribute the input layout feeds it ("f32", "u32", "i32"); locations not listed
      use their signature element's component type.
    - `varyings`: the linked interface (VS outputs or PS inputs); None: each user element of the
      shader's own signature at location = its position among them, interpolation from the
      declarations (PS) or "perspective"/"flat" by type (VS).
    - `textures`: t# -> one of TEXTURE_KINDS; not listed: from the declared return type
      (float -> "float", uint -> "uint", sint -> "sint").
    - `storage_formats`: u# of a typed texture UAV -> its WebGPU storage format; not listed:
      rgba32float / rgba32uint / rgba32sint by the declared return type (r32float / r32uint /
      r32sint where the shader also reads it: D3D11 reads typed UAVs of R32 formats only).
    - `constant_buffer_sizes`: cb# -> vec4 count of the bound range when it is smaller than
      declared (reads past it give 0, as D3D11 says); not listed: the declared size.
    - `typed_buffers`: "t3" / "u1" of a typed buffer view -> the 32-bit values per element of
      the bound view's format (1..4: R32, R32G32, R32G32B32, R32G32B32A32); not listed: 4, or 1
      for a typed UAV the shader reads (D3D11 reads typed UAVs of R32 formats only).
    - `features`: the wgpu features of the host device that translations may use
      ("clip-distances", "primitive-index", "texture-atomic", "shader-early-depth-test", ...);
      what needs a feature the host lacks is refused, naming it. Constant for a device.
    - `sample_count`: the render targets' sample count (`sampleinfo` of the rasterizer,
      `samplepos` of it); 0: unknown (refused).
    - `base_instance`: the draw's StartInstanceLocation, for a VS that reads SV_InstanceID (WGSL's
      instance_index counts from it, D3D11's SV_InstanceID from 0); 0 otherwise.
    - `base_vertex`: the draw's BaseVertexLocation (indexed draws) or StartVertexLocation, for a
      VS that reads SV_VertexID (D3D11's is the index value, or counts from 0; WGSL's
      vertex_index adds the base); 0 otherwise. Indirect draws use 0 (their arguments are the
      GPU's to read). The host sets these two only where it cannot rebase the draw instead
      (bases 0 and the vertex buffers' offsets moved: host/render/renderer.py `_rebase_draw`),
      so that one translation serves draws with any bases.
    """
    vertex_inputs: tuple[tuple[int, str], ...] = ()
    varyings: tuple[Varying, ...] | None = None
    textures: tuple[tuple[int, str], ...] = ()
    storage_formats: tuple[tuple[int, str], ...] = ()
    constant_buffer_sizes: tuple[tuple[int, int], ...] = ()
    typed_buffers: tuple[tuple[str, int], ...] = ()
    features: frozenset[str] = frozenset()
    sample_count: int = 0
    base_instance: int = 0
    base_vertex: int = 0

    def __hash__(self) -> int:
        """Hashed once: specializations are pipeline-cache keys looked up on every draw."""
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.vertex_inputs, self.varyings, self.textures, self.storage_formats,
                      self.constant_buffer_sizes, self.typed_buffers, self.features, self.sample_count,
                      self.base_instance, self.base_vertex))
            object.__setattr__(self, "_hash", h)
        return h


DEFAULT = Specialization()
