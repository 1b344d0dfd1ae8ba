"""The cube drawn through pvgpu's guest API, as a D3D11 program would draw it."""

from __future__ import annotations

from .. import guest as g
from . import scene


SHADER_KINDS = ("wgsl", "dxbc")


class GuestCube:
    def __init__(self, device: g.Device, width: int, height: int, shaders: str = "wgsl"):
        """`shaders`: "wgsl" (the scene's WGSL source) or "dxbc" (the same shaders as DXBC
        bytecode, as a Direct3D 11 program passes them; the host translates them)."""
        self.device = device
        self.ctx = device.get_immediate_context()
        self.width, self.height = width, height
        verts, indices = scene.cube_mesh()
        self.index_count = len(indices)
        self.swap_chain = device.create_swap_chain(g.SwapChainDesc(width, height, g.DxgiFormat.R8G8B8A8_UNORM))
        self.vb = device.create_buffer(g.BufferDesc(verts.nbytes, g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), verts)
        self.ib = device.create_buffer(g.BufferDesc(indices.nbytes, g.BindFlag.INDEX_BUFFER, g.Usage.IMMUTABLE),
                                       indices)
        self.cb = device.create_buffer(g.BufferDesc(scene.CONSTANTS_BYTES, g.BindFlag.CONSTANT_BUFFER))
        tex = device.create_texture2d(g.Texture2DDesc(scene.TEXTURE_SIZE, scene.TEXTURE_SIZE), scene.texture_pixels())
        self.srv = device.create_shader_resource_view(tex)
        self.sampler = device.create_sampler_state(g.SamplerDesc(g.Filter.MIN_MAG_MIP_LINEAR,
                                                                 g.TextureAddressMode.WRAP, g.TextureAddressMode.WRAP,
                                                                 g.TextureAddressMode.WRAP))
        depth = device.create_texture2d(g.Texture2DDesc(width, height, g.DxgiFormat.D32_FLOAT,
                                                        bind_flags=g.BindFlag.DEPTH_STENCIL))
        self.dsv = device.create_depth_stencil_view(depth)
        self.rtv = device.create_render_target_view(self.swap_chain.get_buffer(0))
        if shaders == "dxbc":
            from .dxbc_shaders import PIXEL_SHADER_DXBC, VERTEX_SHADER_DXBC
            vs_code, ps_code = VERTEX_SHADER_DXBC, PIXEL_SHADER_DXBC
        elif shaders == "wgsl":
            vs_code, ps_code = scene.VERTEX_SHADER, scene.PIXEL_SHADER
        else:
            raise ValueError(f"shaders must be one of {', '.join(SHADER_KINDS)}, not {shaders!r}")
        self.vs = device.create_vertex_shader(vs_code)
        self.ps = device.create_pixel_shader(ps_code)
        self.layout = device.create_input_layout([
            g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32B32_FLOAT, 0, 0),
            g.InputElementDesc("TEXCOORD", 0, g.DxgiFormat.R32G32_FLOAT, 0, 12),
        ], vs_code)
        self.depth_state = device.create_depth_stencil_state(g.DepthStencilDesc())
        self.rasterizer = device.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.BACK))

    def draw_frame(self, frame: int) -> None:
        ctx = self.ctx
        ctx.update_subresource(self.cb, 0, None, scene.frame_constants(frame, self.width, self.height))
        ctx.om_set_render_targets([self.rtv], self.dsv)
        ctx.clear_render_target_view(self.rtv, scene.CLEAR_COLOR)
        ctx.clear_depth_stencil_view(self.dsv, g.ClearFlag.DEPTH, 1.0, 0)
        ctx.rs_set_viewports([g.Viewport(0, 0, self.width, self.height)])
        ctx.rs_set_state(self.rasterizer)
        ctx.om_set_depth_stencil_state(self.depth_state, 0)
        ctx.ia_set_input_layout(self.layout)
        ctx.ia_set_vertex_buffers(0, [self.vb], [scene.VERTEX_STRIDE], [0])
        ctx.ia_set_index_buffer(self.ib, g.DxgiFormat.R16_UINT, 0)
        ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
        ctx.vs_set_shader(self.vs)
        ctx.vs_set_constant_buffers(0, [self.cb])
        ctx.ps_set_shader(self.ps)
        ctx.ps_set_shader_resources(0, [self.srv])
        ctx.ps_set_samplers(0, [self.sampler])
        ctx.draw_indexed(self.index_count, 0, 0)
        self.swap_chain.present(0)


def run(socket_path: str, frames: int, width: int, height: int, timeout: float = 60.0, shaders: str = "wgsl") -> int:
    """Connect to the host at `socket_path` and draw `frames` frames; returns frames drawn."""
    return draw(g.connect(socket_path, timeout=timeout), frames, width, height, shaders)


def run_on_device(device_path: str, frames: int, width: int, height: int, timeout: float = 60.0,
                  shaders: str = "wgsl") -> int:
    """The same inside a VM, through the ivshmem PCI device."""
    return draw(g.open_device(device_path, timeout=timeout), frames, width, height, shaders)


def draw(device: g.Device, frames: int, width: int, height: int, shaders: str = "wgsl") -> int:
    try:
        cube = GuestCube(device, width, height, shaders)
        for i in range(frames):
            cube.draw_frame(i)
        cube.swap_chain.wait_idle()
        return frames
    finally:
        device.close()
