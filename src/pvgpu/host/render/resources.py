"""Creating buffers and textures: D3D11's descriptions checked (sizes, bind flags, usage kinds,
the formats and sample counts this host offers) and made into wgpu buffers and textures,
with their initial data.

`ResourceCommands` is part of `Renderer` (a mixin); shared textures are held through
shared_textures.py, and what moves contents later is in transfers.py.
"""

from __future__ import annotations

import numpy as np
import wgpu

from ...protocol.enums import (
    BindFlag, CpuAccessFlag, DxgiFormat, FORMAT_BYTES, FormatSupport, ResourceMiscFlag, Usage,
)
from ..errors import invalid, unsupported
from .formats import SRGB_TWINS, texture_format
from .wgpu_ext import create_texture
from .memory import texture_bytes
from .objects import Buffer, Texture
from .sharing import SharedSurface

MAX_TEXTURE_DIM = 16384
MAX_TEXTURE3D_DIM = 2048  # D3D11_REQ_TEXTURE3D_U_V_OR_W_DIMENSION
_DIMENSION_CAPS = {"1d": FormatSupport.TEXTURE1D, "2d": FormatSupport.TEXTURE2D, "3d": FormatSupport.TEXTURE3D}
_BUFFER_MISC = int(ResourceMiscFlag.DRAWINDIRECT_ARGS | ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS
                   | ResourceMiscFlag.BUFFER_STRUCTURED)
MAX_BUFFER_BYTES = 1 << 30
MSAA_SAMPLES = 4  # WebGPU's one multisample count
MAX_ARRAY_SIZE = 2048
# Plain ints for the per-command checks (IntFlag arithmetic is slow on the hot path).
_VERTEX_BUFFER, _INDEX_BUFFER, _CONSTANT_BUFFER = (int(BindFlag.VERTEX_BUFFER), int(BindFlag.INDEX_BUFFER),
                                                   int(BindFlag.CONSTANT_BUFFER))


class ResourceCommands:
    # --- resources ---------------------------------------------------------------------------
    def create_buffer(self, byte_width, usage, bind_flags, cpu_access_flags, misc_flags,
                      structure_byte_stride, initial_data) -> Buffer:
        if byte_width == 0 or byte_width > MAX_BUFFER_BYTES:
            raise invalid(f"byte_width {byte_width} must be between 1 and {MAX_BUFFER_BYTES}")
        _check_usage_rules(usage, bind_flags, cpu_access_flags, initial_data, "buffer")
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            raise invalid("a buffer cannot be bound as a render target or depth-stencil")
        if misc_flags & ~_BUFFER_MISC:
            raise unsupported(f"misc flags {ResourceMiscFlag(misc_flags & ~_BUFFER_MISC)!r} are not offered for "
                              f"buffers")
        if bind_flags & BindFlag.CONSTANT_BUFFER and byte_width % 16:
            raise invalid(f"a constant buffer's byte_width must be a multiple of 16, not {byte_width}")
        if bind_flags & BindFlag.CONSTANT_BUFFER and bind_flags & BindFlag.UNORDERED_ACCESS:
            raise invalid("a constant buffer cannot also be an unordered-access buffer")
        structured = misc_flags & ResourceMiscFlag.BUFFER_STRUCTURED
        if structured and misc_flags & ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS:
            raise invalid("a buffer is structured or allows raw views, not both")
        if structured and not (0 < structure_byte_stride <= 2048 and structure_byte_stride % 4 == 0
                               and byte_width % structure_byte_stride == 0):
            raise invalid(f"a structured buffer's stride ({structure_byte_stride}) must be a multiple of 4 up to 2048 "
                          f"that divides its byte_width ({byte_width})")
        if misc_flags & ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS and byte_width % 4:
            raise invalid(f"a buffer with raw views needs a byte_width that is a multiple of 4, not {byte_width}")
        if initial_data is not None and len(initial_data) < byte_width:
            raise invalid(f"initial data has {len(initial_data)} bytes, the buffer needs {byte_width}")
        u = wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        if bind_flags & BindFlag.VERTEX_BUFFER:
            u |= wgpu.BufferUsage.VERTEX
        if bind_flags & BindFlag.INDEX_BUFFER:
            u |= wgpu.BufferUsage.INDEX
        if bind_flags & BindFlag.CONSTANT_BUFFER:
            u |= wgpu.BufferUsage.UNIFORM
        if misc_flags & ResourceMiscFlag.DRAWINDIRECT_ARGS:
            u |= wgpu.BufferUsage.INDIRECT
        if bind_flags & (BindFlag.SHADER_RESOURCE | BindFlag.UNORDERED_ACCESS):
            u |= wgpu.BufferUsage.STORAGE
        alloc = (byte_width + 15) // 16 * 16
        self._reserve(alloc, "buffer")
        backing = self.device.create_buffer(size=alloc, usage=u)
        buf = Buffer(byte_width, usage, bind_flags, cpu_access_flags, u, backing, alloc, misc_flags=misc_flags,
                     structure_byte_stride=structure_byte_stride if structured else 0)
        if initial_data is not None:
            self.queue.write_buffer(backing, 0, _padded(initial_data[:byte_width], 4))
            self.readback.idle = False
        self.memory.charge(buf, alloc)
        return buf

    def create_texture1d(self, width, mip_levels, array_size, format, usage, bind_flags, cpu_access_flags,
                         misc_flags, initial_data) -> Texture:
        return self._create_texture("1d", width, 1, 1, mip_levels, array_size, format, 1, 0, usage, bind_flags,
                                    cpu_access_flags, misc_flags, initial_data)

    def create_texture2d(self, width, height, mip_levels, array_size, format, sample_count, sample_quality,
                         usage, bind_flags, cpu_access_flags, misc_flags, initial_data) -> Texture:
        return self._create_texture("2d", width, height, 1, mip_levels, array_size, format, sample_count,
                                    sample_quality, usage, bind_flags, cpu_access_flags, misc_flags, initial_data)

    def create_texture3d(self, width, height, depth, mip_levels, format, usage, bind_flags, cpu_access_flags,
                         misc_flags, initial_data) -> Texture:
        return self._create_texture("3d", width, height, depth, mip_levels, 1, format, 1, 0, usage, bind_flags,
                                    cpu_access_flags, misc_flags, initial_data)

    def _create_texture(self, dimension: str, width, height, depth, mip_levels, array_size, format, sample_count,
                        sample_quality, usage, bind_flags, cpu_access_flags, misc_flags, initial_data,
                        opened: SharedSurface | None = None) -> Texture:
        """`opened`: the surface of a shared texture another session created (OpenSharedResource)."""
        fmt = DxgiFormat(format)
        caps = self.format_caps[fmt]
        kind = f"Texture{dimension.upper()}"
        if not caps & _DIMENSION_CAPS[dimension]:
            raise unsupported(f"format {fmt.name} cannot be a {kind} on this host (see `pvgpu formats`)")
        if bind_flags & BindFlag.RENDER_TARGET and not caps & FormatSupport.RENDER_TARGET:
            raise unsupported(f"format {fmt.name} cannot be a render target on this host")
        if bind_flags & BindFlag.DEPTH_STENCIL and not caps & FormatSupport.DEPTH_STENCIL:
            raise unsupported(f"format {fmt.name} cannot be a depth-stencil target on this host")
        if bind_flags & BindFlag.SHADER_RESOURCE and not caps & FormatSupport.SHADER_LOAD:
            raise unsupported(f"format {fmt.name} cannot be read by shaders on this host")
        if bind_flags & BindFlag.UNORDERED_ACCESS and not caps & FormatSupport.TYPED_UNORDERED_ACCESS_VIEW:
            raise unsupported(f"format {fmt.name} cannot have unordered-access views on this host")
        if misc_flags & _BUFFER_MISC:
            raise invalid(f"misc flags {ResourceMiscFlag(misc_flags & _BUFFER_MISC)!r} are for buffers only")
        wgpu_format = texture_format(fmt, bool(bind_flags & BindFlag.DEPTH_STENCIL))
        if wgpu_format is None:
            raise invalid(f"{fmt.name} is a depth-stencil family: create it with the DEPTH_STENCIL bind flag")
        if misc_flags & ResourceMiscFlag.GENERATE_MIPS:
            want = BindFlag.RENDER_TARGET | BindFlag.SHADER_RESOURCE
            if bind_flags & want != want:
                raise invalid("RESOURCE_MISC_GENERATE_MIPS needs the RENDER_TARGET and SHADER_RESOURCE bind flags")
            if not caps & FormatSupport.SHADER_SAMPLE:
                raise unsupported(f"mips of {fmt.name} cannot be generated on this host (not filterable)")
        limit = MAX_TEXTURE3D_DIM if dimension == "3d" else MAX_TEXTURE_DIM
        if not (1 <= width <= limit and 1 <= height <= limit and 1 <= depth <= limit):
            raise invalid(f"{kind} size {width}x{height}x{depth} is outside 1..{limit}")
        if not 1 <= array_size <= MAX_ARRAY_SIZE:
            raise invalid(f"array_size {array_size} must be between 1 and {MAX_ARRAY_SIZE}")
        if misc_flags & ResourceMiscFlag.TEXTURECUBE and (dimension != "2d" or array_size % 6 or width != height):
            raise invalid(f"a cube texture is 2D with square faces and 6 slices per cube ({width}x{height}, "
                          f"{array_size} slices)")
        if sample_count not in (1, MSAA_SAMPLES) or sample_quality not in (0, 0xFFFFFFFF):
            raise unsupported(f"{sample_count}x multisampling (quality {sample_quality}) is not offered; "
                              f"this host offers 1x and {MSAA_SAMPLES}x")
        if sample_count > 1:
            if not caps & FormatSupport.MULTISAMPLE_RENDERTARGET:
                raise unsupported(f"format {fmt.name} cannot be multisampled on this host")
            if mip_levels not in (0, 1) or array_size != 1:
                raise invalid("a multisampled texture has one mip and one array slice")
            if not bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL) or initial_data is not None:
                raise invalid("a multisampled texture is a render target or depth-stencil without initial data")
            if bind_flags & (BindFlag.SHADER_RESOURCE | BindFlag.UNORDERED_ACCESS):
                raise unsupported("shader-resource and unordered-access views of multisampled textures are not "
                                  "offered yet")
            mip_levels = 1
        full_chain = max(width, height, depth).bit_length()
        mips = full_chain if mip_levels == 0 else mip_levels
        if mips > full_chain:
            raise invalid(f"{mip_levels} mip levels is more than a {width}x{height}x{depth} texture has "
                          f"({full_chain})")
        _check_usage_rules(usage, bind_flags, cpu_access_flags, initial_data, "texture")
        if bind_flags & (BindFlag.VERTEX_BUFFER | BindFlag.INDEX_BUFFER | BindFlag.CONSTANT_BUFFER):
            raise invalid("a texture cannot be bound as a vertex, index or constant buffer")
        is_depth = wgpu_format.startswith("depth")
        if bind_flags & BindFlag.DEPTH_STENCIL and not is_depth:
            raise invalid(f"DEPTH_STENCIL binding needs a depth format, not {fmt.name}")
        if bind_flags & BindFlag.RENDER_TARGET and is_depth:
            raise invalid(f"RENDER_TARGET binding cannot use the depth format {fmt.name}")
        if bind_flags & BindFlag.DEPTH_STENCIL and dimension == "3d":
            raise invalid("a Texture3D cannot be a depth-stencil")
        u = wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.COPY_SRC if sample_count == 1 else 0
        if bind_flags & BindFlag.SHADER_RESOURCE:
            u |= wgpu.TextureUsage.TEXTURE_BINDING
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            u |= wgpu.TextureUsage.RENDER_ATTACHMENT
        if bind_flags & BindFlag.UNORDERED_ACCESS:
            u |= wgpu.TextureUsage.STORAGE_BINDING
        if (usage == Usage.DEFAULT and dimension == "2d" and caps & FormatSupport.MULTISAMPLE_RESOLVE
                and not is_depth):
            u |= wgpu.TextureUsage.RENDER_ATTACHMENT  # a ResolveSubresource target needs it in WebGPU
        if misc_flags & ResourceMiscFlag.SHARED:
            self._check_shareable(dimension, mips, array_size, sample_count, fmt)
        layers = depth if dimension == "3d" else array_size
        nbytes = texture_bytes(width, height, depth, mips, array_size, FORMAT_BYTES[fmt], sample_count)
        self._reserve(nbytes, kind)
        twin = SRGB_TWINS.get(wgpu_format)
        texture = create_texture(self.device, size=(width, height, layers), mip_level_count=mips,
                                 dimension="3d" if dimension == "3d" else "2d", format=wgpu_format, usage=u,
                                 sample_count=sample_count, view_formats=(twin,) if twin else ())
        tex = Texture(width, height, mips, fmt, wgpu_format, usage, bind_flags, cpu_access_flags, texture,
                      FORMAT_BYTES[fmt], misc_flags=misc_flags, array_size=array_size,
                      sample_count=sample_count, dimension=dimension, depth=depth)
        if initial_data is not None:
            if is_depth:
                raise unsupported("initial data for depth textures is not offered (clear them instead)")
            need = tex.nbytes
            if len(initial_data) < need:
                raise invalid(f"initial data has {len(initial_data)} bytes; {array_size} slice(s) of {mips} tightly "
                              f"packed mips of {width}x{height}x{depth} {fmt.name} need {need}")
            off = 0
            for layer in range(array_size):
                for m in range(mips):
                    (w, h), d = tex.mip_size(m), tex.mip_depth(m)
                    n = w * h * d * tex.bytes_per_texel
                    self.queue.write_texture({"texture": texture, "mip_level": m, "origin": (0, 0, layer)},
                                             initial_data[off:off + n],
                                             {"offset": 0, "bytes_per_row": w * tex.bytes_per_texel,
                                              "rows_per_image": h}, (w, h, d))
                    self.readback.idle = False
                    off += n
        if misc_flags & ResourceMiscFlag.SHARED:
            surface = opened or SharedSurface.create(self._share_home, width, height, fmt, bind_flags,
                                                     tex.bytes_per_texel)
            self._hold_shared(tex, surface)
            if initial_data is not None and opened is None:
                tex.shared_version = surface.publish(np.frombuffer(initial_data[:surface.nbytes], dtype=np.uint8))
        self.memory.charge(tex, nbytes)
        return tex


def _padded(data, multiple: int) -> bytes | memoryview:
    n = len(data)
    if n % multiple == 0:
        return data
    return bytes(data) + bytes(multiple - n % multiple)


def _check_usage_rules(usage: int, bind_flags: int, cpu_access: int, initial_data, what: str) -> None:
    """D3D11's rules for usage kinds (each a clear error)."""
    if usage == Usage.IMMUTABLE:
        if initial_data is None:
            raise invalid(f"an IMMUTABLE {what} needs initial data")
        if cpu_access:
            raise invalid(f"an IMMUTABLE {what} cannot have CPU access")
    elif usage == Usage.DYNAMIC:
        if cpu_access != CpuAccessFlag.WRITE:
            raise invalid(f"a DYNAMIC {what} needs CPU_ACCESS_WRITE (and only that)")
        if bind_flags & (BindFlag.RENDER_TARGET | BindFlag.DEPTH_STENCIL):
            raise invalid(f"a DYNAMIC {what} cannot be a render target or depth-stencil")
    elif usage == Usage.STAGING:
        if bind_flags:
            raise invalid(f"a STAGING {what} cannot have bind flags")
        if not cpu_access:
            raise invalid(f"a STAGING {what} needs CPU_ACCESS_READ and/or CPU_ACCESS_WRITE")
    elif cpu_access:
        raise invalid(f"a DEFAULT {what} cannot have CPU access flags")
