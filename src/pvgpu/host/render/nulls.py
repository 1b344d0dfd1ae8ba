"""Stand-ins bound where a shader uses a slot the guest left empty.

D3D11 reads zeros from an unbound slot and drops writes to an unbound UAV. WebGPU needs a
resource of the declared type in every binding, so each declaration (`shaders.declared_kind`:
"uniform", "storage-read", "storage-read-write", "texture:<dim>:<sample type>",
"storage-texture:<dim>:<format>", "sampler", "sampler-comparison") gets a small stand-in of
its own, made on first use. Read-only stand-ins are never bound writable, and writable ones
("sinks") never readable, so one dispatch or pass can never use a stand-in both ways.
"""

from __future__ import annotations

import wgpu

NULL_BUFFER_BYTES = 65536
_SAMPLED_FORMATS = {"f32": "rgba8unorm", "u32": "rgba8uint", "i32": "rgba8sint", "depth": "depth32float"}
#: view dimension -> (texture dimension, layers)
_SHAPES = {"1d": ("1d", 1), "2d": ("2d", 1), "2d-array": ("2d", 1), "cube": ("2d", 6), "cube-array": ("2d", 6),
           "3d": ("3d", 1)}


class NullResources:
    def __init__(self, device: wgpu.GPUDevice):
        self.device = device
        self._made: dict[str, object] = {}

    def get(self, kind: str):
        """The binding resource standing in for an empty slot declared as `kind`."""
        hit = self._made.get(kind)
        if hit is None:
            hit = self._made[kind] = self._make(kind)
        return hit

    def _make(self, kind: str):
        d = self.device
        U = wgpu.BufferUsage
        if kind in ("uniform", "storage-read", "storage-read-write"):
            usage = U.UNIFORM if kind == "uniform" else U.STORAGE
            return {"buffer": d.create_buffer(size=NULL_BUFFER_BYTES, usage=usage, label=f"pvgpu-null-{kind}"),
                    "offset": 0, "size": NULL_BUFFER_BYTES}
        if kind.startswith("sampler"):
            return d.create_sampler(compare="less" if kind == "sampler-comparison" else None)
        what, dim, detail = kind.split(":")
        tex_dim, layers = _SHAPES.get(dim, ("2d", 1))
        if what == "storage-texture":
            fmt, usage, sample_count = detail, wgpu.TextureUsage.STORAGE_BINDING, 1
        elif dim == "multisampled-2d":
            fmt, sample_count = _SAMPLED_FORMATS.get(detail, "rgba8unorm"), 4
            usage = wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.RENDER_ATTACHMENT
        else:
            fmt, usage, sample_count = _SAMPLED_FORMATS.get(detail, "rgba8unorm"), wgpu.TextureUsage.TEXTURE_BINDING, 1
        texture = d.create_texture(size=(1, 1, layers), dimension=tex_dim, format=fmt, usage=usage,
                                   sample_count=sample_count, label=f"pvgpu-null-{kind}")
        view_dim = "2d" if dim == "multisampled-2d" else dim
        return texture.create_view(dimension=view_dim, aspect="depth-only" if detail == "depth" else "all")
