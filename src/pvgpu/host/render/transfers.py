"""Moving resource contents: UpdateSubresource, the maps (Map(READ), WRITE_DISCARD,
WRITE_NO_OVERWRITE), CopyResource, CopySubresourceRegion, ResolveSubresource and
GenerateMips, each ordered with the recorded work as D3D11 orders it (renaming a buffer,
moving a constant buffer out of the uniform ring, submitting first).

`TransferCommands` is part of `Renderer` (a mixin).
"""

from __future__ import annotations

import numpy as np

from ...protocol.enums import CpuAccessFlag, FormatSupport, ResourceMiscFlag, Usage
from ..errors import invalid, unsupported
from .formats import copy_compatible, format_enum as _format
from .objects import Buffer, Texture
from .resources import _CONSTANT_BUFFER, _padded

#: Whole-buffer updates renamed (fresh backing) before the recorded work is submitted.
MAX_RENAMES_PER_SUBMIT = 256
#: GenerateMips: each mip is drawn from the one above with linear filtering (a 2x2 box filter
#: for even sizes, gamma-correct for sRGB formats since sampling and writing convert).
MIP_SHADER = """
@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var smp: sampler;
struct VOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };
@vertex
fn vs(@builtin(vertex_index) i: u32) -> VOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return VOut(vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0), vec2<f32>(xy.x, 1.0 - xy.y));
}
@fragment
fn fs(v: VOut) -> @location(0) vec4<f32> { return textureSampleLevel(src, smp, v.uv, 0.0); }
"""


class TransferCommands:
    def _check_update_allowed(self, resource) -> None:
        if resource.usage == Usage.IMMUTABLE:
            raise invalid("an IMMUTABLE resource cannot be written after creation")
        if resource.usage == Usage.DYNAMIC:
            raise invalid("a DYNAMIC resource is written with Map(WRITE_DISCARD), not UpdateSubresource")

    def update_subresource(self, resource, subresource, has_box, box_left, box_top, box_front, box_right,
                           box_bottom, box_back, src_row_pitch, src_depth_pitch, src) -> None:
        self._check_update_allowed(resource)
        if src is None:
            raise invalid("UpdateSubresource without source data")
        if isinstance(resource, Buffer):
            if subresource != 0:
                raise invalid(f"a buffer has one subresource, not {subresource}")
            lo, hi = (box_left, box_right) if has_box else (0, resource.byte_width)
            if not (lo <= hi <= resource.byte_width):
                raise invalid(f"box [{lo}, {hi}) is outside the {resource.byte_width}-byte buffer")
            if hi - lo > len(src):
                raise invalid(f"source has {len(src)} bytes, the box needs {hi - lo}")
            if hi == lo:
                return  # an empty box writes nothing (D3D11)
            self._write_buffer(resource, lo, src[:hi - lo], whole=(lo == 0 and hi == resource.byte_width))
            return
        box = (box_left, box_top, box_front, box_right, box_bottom, box_back) if has_box else None
        self._write_texture(resource, subresource, box, src_row_pitch, src_depth_pitch, src)

    def _write_buffer(self, buf: Buffer, offset: int, data, whole: bool) -> None:
        if offset % 4 or (len(data) % 4 and offset + len(data) != buf.byte_width):
            raise unsupported("buffer updates must start and end on 4-byte boundaries (or end at the buffer's end)")
        if whole and buf.bind_flags == _CONSTANT_BUFFER and not buf.misc_flags:
            self._ring_write(buf, data)
            return
        if buf.ring_offset >= 0:
            self._settle(buf)
        if buf.used_generation == self.generation:
            if whole and self._renames < MAX_RENAMES_PER_SUBMIT and self._rename_room(buf.alloc_size):
                # D3D11 semantics with the pass kept open: recorded draws keep the old backing.
                buf.backing = self.device.create_buffer(size=buf.alloc_size, usage=buf.wgpu_usage)
                self.epoch += 1
                self._dirty_all()
                self._renames += 1
                self._bind_groups.clear()
            else:
                self.submit()
        self.queue.write_buffer(buf.backing, offset, _padded(data, 4))
        self.readback.idle = False

    def _write_texture(self, tex: Texture, subresource: int, box: tuple | None, row_pitch: int,
                       depth_pitch: int, data) -> None:
        """Write a subresource, or the box (left, top, front, right, bottom, back) of it
        (depth_pitch 0: slices follow each other tightly)."""
        mip, layer = self._split(tex, subresource)
        if tex.is_depth:
            raise unsupported("writing depth textures from the CPU is not offered")
        (w, h), d = tex.mip_size(mip), tex.mip_depth(mip)
        left, top, front, right, bottom, back = box if box is not None else (0, 0, 0, w, h, d)
        if tex.dimension != "3d":
            front, back = 0, min(back, 1) if box is not None else 1  # D3D11: a 2D box spans depth 0..1
        if not (left <= right <= w and top <= bottom <= h and front <= back <= d):
            raise invalid(f"box ({left},{top},{front})-({right},{bottom},{back}) is outside mip {mip} ({w}x{h}x{d})")
        if right == left or bottom == top or back == front:
            return
        rows, slices = bottom - top, back - front
        row = (right - left) * tex.bytes_per_texel
        if row_pitch < row:
            raise invalid(f"source row pitch {row_pitch} is less than a row of the box ({row} bytes)")
        image = row_pitch * (rows - 1) + row
        depth_pitch = depth_pitch or row_pitch * rows
        if slices > 1 and (depth_pitch < image or depth_pitch % row_pitch):
            raise invalid(f"source depth pitch {depth_pitch} must be a multiple of the row pitch {row_pitch} "
                          f"holding a whole {right - left}x{rows} slice ({image} bytes)")
        need = (depth_pitch * (slices - 1) if slices > 1 else 0) + image
        if len(data) < need:
            raise invalid(f"source has {len(data)} bytes, the box needs {need}")
        self._materialize_clears()  # a clear recorded before this update must land before it
        if tex.used_generation == self.generation:
            self.submit()
        origin = (left, top, front if tex.dimension == "3d" else layer)
        self.queue.write_texture({"texture": tex.texture, "mip_level": mip, "origin": origin},
                                 data[:need], {"offset": 0, "bytes_per_row": row_pitch,
                                               "rows_per_image": depth_pitch // row_pitch if slices > 1 else rows},
                                 (right - left, rows, slices))
        self.readback.idle = False
        if tex.shared is not None:
            self._dirty_shared.add(tex)

    def copy_resource(self, dst, src) -> None:
        if dst is src:
            raise invalid("CopyResource needs two different resources")
        if type(dst) is not type(src):
            raise invalid("CopyResource needs two resources of the same kind")
        if dst.usage == Usage.IMMUTABLE:
            raise invalid("cannot copy into an IMMUTABLE resource")
        self._materialize_clears()
        self._end_pass()
        if isinstance(dst, Buffer):
            if dst.byte_width != src.byte_width:
                raise invalid(f"buffer sizes differ ({dst.byte_width} and {src.byte_width} bytes)")
            self._settle(src)
            self._settle(dst)
            self.encoder.copy_buffer_to_buffer(src.backing, 0, dst.backing, 0, dst.alloc_size)
        else:
            if dst.sample_count > 1 or src.sample_count > 1:
                raise unsupported("multisampled textures cannot be copied; resolve them first (ResolveSubresource)")
            if _shape(dst) != _shape(src):
                raise invalid("textures differ in kind, size, mip count or array size")
            if dst.bytes_per_texel != src.bytes_per_texel or dst.is_depth != src.is_depth:
                raise invalid(f"formats {src.format.name} and {dst.format.name} are not copy-compatible")
            if not copy_compatible(dst.wgpu_format, src.wgpu_format):
                raise unsupported(f"copies between {src.format.name} and {dst.format.name} are not offered")
            for m in range(dst.mip_levels):
                w, h = dst.mip_size(m)
                layers = dst.mip_depth(m) if dst.dimension == "3d" else dst.array_size
                self.encoder.copy_texture_to_texture({"texture": src.texture, "mip_level": m},
                                                     {"texture": dst.texture, "mip_level": m}, (w, h, layers))
        self._wrote(dst)
        self._use(src)

    def copy_subresource_region(self, dst, dst_subresource, dst_x, dst_y, dst_z, src, src_subresource, has_box,
                                box_left, box_top, box_front, box_right, box_bottom, box_back) -> None:
        if type(dst) is not type(src):
            raise invalid("CopySubresourceRegion needs two resources of the same kind")
        if dst.usage == Usage.IMMUTABLE:
            raise invalid("cannot copy into an IMMUTABLE resource")
        if isinstance(dst, Buffer):
            if dst_subresource or src_subresource:
                raise invalid("a buffer has one subresource (0)")
            lo, hi = (box_left, box_right) if has_box else (0, src.byte_width)
            if not (lo <= hi <= src.byte_width):
                raise invalid(f"source range [{lo}, {hi}) is outside the {src.byte_width}-byte buffer")
            if dst_x + (hi - lo) > dst.byte_width:
                raise invalid(f"{hi - lo} bytes at offset {dst_x} do not fit the {dst.byte_width}-byte destination")
            if dst is src:
                raise unsupported("copies within one buffer are not offered (copy through a second buffer)")
            if lo % 4 or dst_x % 4 or (hi - lo) % 4:
                raise unsupported("buffer region copies must start, end and land on 4-byte boundaries")
            if hi == lo:
                return
            self._materialize_clears()
            self._end_pass()
            self._settle(src)
            self._settle(dst)
            self.encoder.copy_buffer_to_buffer(src.backing, lo, dst.backing, dst_x, hi - lo)
        else:
            if dst.dimension != src.dimension:
                raise invalid(f"CopySubresourceRegion between a Texture{src.dimension.upper()} and a "
                              f"Texture{dst.dimension.upper()}")
            dst_mip, dst_layer = self._split(dst, dst_subresource)
            src_mip, src_layer = self._split(src, src_subresource)
            if not copy_compatible(dst.wgpu_format, src.wgpu_format):
                raise invalid(f"formats {src.format.name} and {dst.format.name} are not copy-compatible")
            (sw, sh), sd = src.mip_size(src_mip), src.mip_depth(src_mip)
            box = ((box_left, box_top, box_front, box_right, box_bottom, box_back) if has_box
                   else (0, 0, 0, sw, sh, sd))
            left, top, front, right, bottom, back = box
            if not (left <= right <= sw and top <= bottom <= sh and front <= back <= sd):
                raise invalid(f"box ({left},{top},{front})-({right},{bottom},{back}) is outside source mip {src_mip} "
                              f"({sw}x{sh}x{sd})")
            (dw, dh), dd = dst.mip_size(dst_mip), dst.mip_depth(dst_mip)
            if dst_x + (right - left) > dw or dst_y + (bottom - top) > dh or dst_z + (back - front) > dd:
                raise invalid(f"the {right - left}x{bottom - top}x{back - front} region at ({dst_x},{dst_y},{dst_z}) "
                              f"does not fit destination mip {dst_mip} ({dw}x{dh}x{dd})")
            if dst is src and dst_subresource == src_subresource:
                raise unsupported("copies within one subresource are not offered")
            if dst.is_depth and ((left, top, right, bottom, dst_x, dst_y) != (0, 0, sw, sh, 0, 0)
                                                or (dw, dh) != (sw, sh)):
                raise unsupported("depth-stencil copies must cover whole subresources of the same size")
            if right == left or bottom == top or back == front:
                return
            self._materialize_clears()
            self._end_pass()
            three_d = dst.dimension == "3d"
            self.encoder.copy_texture_to_texture(
                {"texture": src.texture, "mip_level": src_mip, "origin": (left, top, front if three_d else src_layer)},
                {"texture": dst.texture, "mip_level": dst_mip, "origin": (dst_x, dst_y, dst_z if three_d else dst_layer)},
                (right - left, bottom - top, back - front))
        self._wrote(dst)
        self._use(src)

    def resolve_subresource(self, dst, dst_subresource, src, src_subresource, format) -> None:
        if dst.dimension != "2d":
            raise invalid("ResolveSubresource needs a Texture2D destination")
        if src.sample_count == 1 or dst.sample_count != 1:
            raise invalid("ResolveSubresource goes from a multisampled texture to a single-sampled one")
        if dst.usage != Usage.DEFAULT:
            raise invalid("ResolveSubresource needs a DEFAULT destination")
        if src_subresource != 0:
            raise invalid(f"a multisampled texture has one subresource, not {src_subresource}")
        mip, layer = self._split(dst, dst_subresource)
        fmt = src.format if format == 0 else _format(format)
        if not (src.format == dst.format == fmt) or not self.format_caps[fmt] & FormatSupport.MULTISAMPLE_RESOLVE:
            raise unsupported(f"resolving {src.format.name} into {dst.format.name} as {fmt.name} is not offered")
        if dst.mip_size(mip) != (src.width, src.height):
            raise invalid(f"sizes differ: {src.width}x{src.height} into {dst.mip_size(mip)}")
        self._materialize_clears()
        self._end_pass()
        target = dst.texture.create_view(dimension="2d", base_mip_level=mip, mip_level_count=1,
                                         base_array_layer=layer, array_layer_count=1)
        p = self.encoder.begin_render_pass(color_attachments=[
            {"view": src.texture.create_view(), "resolve_target": target, "load_op": "load", "store_op": "store"}])
        p.end()
        self._use(src)
        self._wrote(dst)

    def generate_mips(self, view) -> None:
        tex = view.resource
        if not tex.misc_flags & ResourceMiscFlag.GENERATE_MIPS:
            raise invalid("GenerateMips needs a texture created with RESOURCE_MISC_GENERATE_MIPS")
        if tex.dimension == "3d":
            raise unsupported("GenerateMips of a Texture3D is not offered yet")
        self._materialize_clears()
        self._end_pass()
        pipeline = self._mip_pipelines.get(tex.wgpu_format)
        if pipeline is None:
            module = self.device.create_shader_module(code=MIP_SHADER)
            pipeline = self.device.create_render_pipeline(
                layout="auto", vertex={"module": module, "entry_point": "vs"},
                primitive={"topology": "triangle-list"},
                fragment={"module": module, "entry_point": "fs", "targets": [{"format": tex.wgpu_format}]})
            self._mip_pipelines[tex.wgpu_format] = pipeline
        for layer in range(view.first_slice, view.first_slice + view.slices):
            for mip in range(view.base_mip, view.base_mip + view.mip_count - 1):
                one = {"dimension": "2d", "mip_level_count": 1, "base_array_layer": layer, "array_layer_count": 1}
                source = tex.texture.create_view(base_mip_level=mip, **one)
                target = tex.texture.create_view(base_mip_level=mip + 1, **one)
                group = self.device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
                    {"binding": 0, "resource": source}, {"binding": 1, "resource": self._linear_sampler}])
                p = self.encoder.begin_render_pass(color_attachments=[
                    {"view": target, "load_op": "clear", "store_op": "store", "clear_value": (0, 0, 0, 0)}])
                p.set_pipeline(pipeline)
                p.set_bind_group(0, group)
                p.draw(3)
                p.end()
        self._wrote(tex)

    @staticmethod
    def _split(tex: Texture, subresource: int) -> tuple[int, int]:
        if tex.sample_count > 1:
            raise unsupported("multisampled textures cannot be written, copied or read by subresource; "
                              "resolve them first (ResolveSubresource)")
        if subresource >= tex.subresources:
            raise invalid(f"subresource {subresource} does not exist (the texture has {tex.mip_levels} mip(s) x "
                          f"{tex.array_size} slice(s))")
        return tex.split(subresource)

    # --- CPU access ----------------------------------------------------------------------------
    def map_read(self, resource, subresource, dst_row_pitch, dst_depth_pitch, dst) -> None:
        if resource.usage != Usage.STAGING:
            raise invalid("Map(READ/WRITE/READ_WRITE) needs a STAGING resource")
        if dst is None:
            raise invalid("Map(READ) without a destination range")
        if isinstance(resource, Buffer):
            if len(dst) < resource.byte_width:
                raise invalid(f"destination has {len(dst)} bytes, the buffer has {resource.byte_width}")
            data = self.readback.buffer(self._finish(), resource.backing, 0, resource.byte_width)
            dst[:resource.byte_width] = data.data
            return
        mip, layer = self._split(resource, subresource)
        if not self.format_caps[resource.format] & FormatSupport.CPU_READBACK:
            raise unsupported(f"reading back {resource.format.name} is not offered on this host")
        (w, h), d = resource.mip_size(mip), resource.mip_depth(mip)
        row = w * resource.bytes_per_texel
        if dst_row_pitch < row:
            raise invalid(f"destination row pitch {dst_row_pitch} is less than a row ({row} bytes)")
        image = dst_row_pitch * (h - 1) + row
        if d > 1 and dst_depth_pitch < image:
            raise invalid(f"destination depth pitch {dst_depth_pitch} is less than a slice ({image} bytes)")
        need = (dst_depth_pitch * (d - 1) if d > 1 else 0) + image
        if len(dst) < need:
            raise invalid(f"destination has {len(dst)} bytes, {d} slice(s) of {h} rows at pitch {dst_row_pitch} "
                          f"need {need}")
        aspect = "depth-only" if resource.is_depth else "all"
        pixels = self.readback.texture(self._finish(), resource.texture, mip, w, h,
                                       resource.bytes_per_texel, aspect, layer, depth=d)
        out = np.frombuffer(dst, dtype=np.uint8)
        if dst_row_pitch == row and (d == 1 or dst_depth_pitch == row * h):
            out[:row * h * d] = pixels.reshape(-1)
        else:  # every row at its pitch: a strided view of the destination, one copy
            depth_pitch = dst_depth_pitch if d > 1 else 0
            rows = np.lib.stride_tricks.as_strided(out, shape=(d, h, row), strides=(depth_pitch, dst_row_pitch, 1),
                                                   writeable=True)
            rows[...] = pixels.reshape(d, h, row)

    def map_write_discard(self, resource, subresource, src_row_pitch, src) -> None:
        if resource.usage != Usage.DYNAMIC or not resource.cpu_access_flags & CpuAccessFlag.WRITE:
            raise invalid("Map(WRITE_DISCARD) needs a DYNAMIC resource with CPU_ACCESS_WRITE")
        if src is None:
            raise invalid("Map(WRITE_DISCARD) without data")
        if isinstance(resource, Buffer):
            if subresource != 0:
                raise invalid(f"a buffer has one subresource, not {subresource}")
            if len(src) < resource.byte_width:
                raise invalid(f"source has {len(src)} bytes, the buffer has {resource.byte_width}")
            self._write_buffer(resource, 0, src[:resource.byte_width], whole=True)
            return
        self._write_texture(resource, subresource, None, src_row_pitch, 0, src)

    def map_write_no_overwrite(self, resource, dst_offset, src) -> None:
        if resource.usage != Usage.DYNAMIC or not resource.cpu_access_flags & CpuAccessFlag.WRITE:
            raise invalid("Map(WRITE_NO_OVERWRITE) needs a DYNAMIC buffer with CPU_ACCESS_WRITE")
        if src is None:
            raise invalid("Map(WRITE_NO_OVERWRITE) without data")
        if dst_offset + len(src) > resource.byte_width:
            raise invalid(f"{len(src)} bytes at {dst_offset} reach past the {resource.byte_width}-byte buffer")
        if dst_offset % 4 or (len(src) % 4 and dst_offset + len(src) != resource.byte_width):
            raise unsupported("no-overwrite writes must start and end on 4-byte boundaries")
        if resource.ring_offset >= 0:  # its contents move back to the backing first, before this write
            self._settle(resource)
            self.submit()
        # In place, no renaming, no submit: the guest promised in-flight work does not read these bytes.
        self.queue.write_buffer(resource.backing, dst_offset, _padded(src, 4))
        self.readback.idle = False


def _shape(tex: Texture) -> tuple:
    return tex.dimension, tex.width, tex.height, tex.depth, tex.mip_levels, tex.array_size
