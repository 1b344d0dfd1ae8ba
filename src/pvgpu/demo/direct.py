"""The cube drawn by direct wgpu calls: the reference pvgpu's output is compared with, and
the baseline its frame time is measured against."""

from __future__ import annotations

import numpy as np
import wgpu

from . import scene


class DirectCube:
    def __init__(self, device: wgpu.GPUDevice, width: int, height: int):
        self.device = device
        self.width, self.height = width, height
        d = device
        verts, indices = scene.cube_mesh()
        self.index_count = len(indices)
        usage = wgpu.BufferUsage
        self.vb = d.create_buffer_with_data(data=verts.tobytes(), usage=usage.VERTEX)
        self.ib = d.create_buffer_with_data(data=indices.tobytes() + b"\0\0" * (len(indices) % 2),
                                            usage=usage.INDEX)
        self.cb = d.create_buffer(size=scene.CONSTANTS_BYTES, usage=usage.UNIFORM | usage.COPY_DST)
        pixels = scene.texture_pixels()
        tex = d.create_texture(size=(scene.TEXTURE_SIZE, scene.TEXTURE_SIZE, 1), format="rgba8unorm",
                               usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST)
        d.queue.write_texture({"texture": tex}, pixels.tobytes(),
                              {"bytes_per_row": scene.TEXTURE_SIZE * 4, "rows_per_image": scene.TEXTURE_SIZE},
                              (scene.TEXTURE_SIZE, scene.TEXTURE_SIZE, 1))
        sampler = d.create_sampler(address_mode_u="repeat", address_mode_v="repeat", address_mode_w="repeat",
                                   mag_filter="linear", min_filter="linear", mipmap_filter="linear")
        self.target = d.create_texture(size=(width, height, 1), format="rgba8unorm",
                                       usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
        self.target_view = self.target.create_view()
        self.depth_view = d.create_texture(size=(width, height, 1), format="depth32float",
                                           usage=wgpu.TextureUsage.RENDER_ATTACHMENT).create_view()
        vs = d.create_shader_module(code=scene.VERTEX_SHADER)
        ps = d.create_shader_module(code=scene.PIXEL_SHADER)
        self.pipeline = d.create_render_pipeline(
            layout="auto",
            vertex={"module": vs, "entry_point": "vs_main", "buffers": [{
                "array_stride": scene.VERTEX_STRIDE, "step_mode": "vertex",
                "attributes": [{"format": "float32x3", "offset": 0, "shader_location": 0},
                               {"format": "float32x2", "offset": 12, "shader_location": 1}]}]},
            primitive={"topology": "triangle-list", "front_face": "cw", "cull_mode": "back"},
            depth_stencil={"format": "depth32float", "depth_write_enabled": True, "depth_compare": "less"},
            multisample={"count": 1},
            fragment={"module": ps, "entry_point": "ps_main", "targets": [{"format": "rgba8unorm"}]})
        self.bind_groups = [
            d.create_bind_group(layout=self.pipeline.get_bind_group_layout(0), entries=[
                {"binding": 0, "resource": {"buffer": self.cb, "offset": 0, "size": scene.CONSTANTS_BYTES}}]),
            d.create_bind_group(layout=self.pipeline.get_bind_group_layout(1), entries=[
                {"binding": 16, "resource": sampler}, {"binding": 32, "resource": tex.create_view()}]),
        ]
        padded = (width * 4 + 255) // 256 * 256
        self._row_pitch = padded
        self.readback = d.create_buffer(size=padded * height, usage=usage.MAP_READ | usage.COPY_DST)

    def render(self, frame: int) -> np.ndarray:
        """Draw one frame and read it back: (height, width, 4) RGBA8."""
        d = self.device
        d.queue.write_buffer(self.cb, 0, scene.frame_constants(frame, self.width, self.height))
        enc = d.create_command_encoder()
        p = enc.begin_render_pass(
            color_attachments=[{"view": self.target_view, "load_op": "clear", "store_op": "store",
                                "clear_value": scene.CLEAR_COLOR}],
            depth_stencil_attachment={"view": self.depth_view, "depth_load_op": "clear", "depth_store_op": "store",
                                      "depth_clear_value": 1.0})
        p.set_pipeline(self.pipeline)
        p.set_bind_group(0, self.bind_groups[0])
        p.set_bind_group(1, self.bind_groups[1])
        p.set_viewport(0, 0, self.width, self.height, 0.0, 1.0)
        p.set_vertex_buffer(0, self.vb)
        p.set_index_buffer(self.ib, "uint16")
        p.draw_indexed(self.index_count, 1, 0, 0, 0)
        p.end()
        enc.copy_texture_to_buffer({"texture": self.target},
                                   {"buffer": self.readback, "bytes_per_row": self._row_pitch,
                                    "rows_per_image": self.height}, (self.width, self.height, 1))
        d.queue.submit([enc.finish()])
        self.readback.map_sync(wgpu.MapMode.READ)
        try:
            data = np.frombuffer(self.readback.read_mapped(copy=False), dtype=np.uint8)
            return data.reshape(self.height, self._row_pitch)[:, :self.width * 4].reshape(
                self.height, self.width, 4).copy()
        finally:
            self.readback.unmap()
