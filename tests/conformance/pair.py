"""Draw lists run twice: through pvgpu (guest API, presented frame) and through direct wgpu.

A scene describes its work as a list of `Draw`s on a `Target`. Every piece of pipeline state
is given in both vocabularies side by side, so the reference is written by hand in wgpu terms
and is not derived from pvgpu's own translation:

    Blend(g.BlendDesc([...]), [{"blend": {...}, "write_mask": ...}], factor=(...))
    Raster(g.RasterizerDesc(...), {"cull_mode": ..., "front_face": ...}, bias={...})
    DepthStencil(g.DepthStencilDesc(...), {"depth_compare": ..., "stencil_front": ...}, ref=...)
    Sampler(g.SamplerDesc(...), {"mag_filter": ..., ...})
    Texture([subresource arrays], srv={guest view kwargs}, view={wgpu create_view kwargs})

`None` for blend or depth-stencil means D3D11's default state (OMSet*State(NULL)); the
direct side then uses the wgpu equivalent of that default. `Pair.check` runs both sides,
asserts they match (max abs diff 1 per channel, per render target), that the frame is not
uniform, that query results agree, and, with `baseline=`, that the feature changed the
picture (the direct frame differs from the baseline's in at least `min_changed` pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import wgpu

from pvgpu import guest as g
from pvgpu.protocol.enums import ResourceMiscFlag

from . import direct, guest
from .wgsl import COLOR_PS, COLOR_VS

W, H = 48, 32  # not square, so a swapped axis shows
CLEAR = (0.1, 0.2, 0.3, 1.0)
F = g.DxgiFormat

POS_COLOR = (g.InputElementDesc("POSITION", 0, F.R32G32B32_FLOAT),
             g.InputElementDesc("COLOR", 0, F.R32G32B32A32_FLOAT))
#: POS_COLOR in slot 0 plus per-instance offset and tint in slot 1 (wgsl.INSTANCED_VS).
INSTANCED = POS_COLOR + (
    g.InputElementDesc("OFFSET", 0, F.R32G32_FLOAT, 1, 0, g.InputClassification.PER_INSTANCE_DATA, 1),
    g.InputElementDesc("TINT", 0, F.R32G32B32A32_FLOAT, 1, g.APPEND_ALIGNED_ELEMENT,
                       g.InputClassification.PER_INSTANCE_DATA, 1))

# The wgpu side's own tables (written from the WebGPU spec, not imported from pvgpu).
VERTEX_FORMATS = {F.R32G32_FLOAT: ("float32x2", 8), F.R32G32B32_FLOAT: ("float32x3", 12),
                  F.R32G32B32A32_FLOAT: ("float32x4", 16), F.R32_UINT: ("uint32", 4),
                  F.R32G32B32A32_UINT: ("uint32x4", 16),
                  F.R8G8B8A8_UNORM: ("unorm8x4", 4)}
TOPOLOGIES = {g.PrimitiveTopology.POINTLIST: "point-list", g.PrimitiveTopology.LINELIST: "line-list",
              g.PrimitiveTopology.LINESTRIP: "line-strip", g.PrimitiveTopology.TRIANGLELIST: "triangle-list",
              g.PrimitiveTopology.TRIANGLESTRIP: "triangle-strip"}
DEPTH_FORMATS = {F.D32_FLOAT: "depth32float", F.D24_UNORM_S8_UINT: "depth24plus-stencil8",
                 F.D16_UNORM: "depth16unorm"}
#: D3D11's default depth-stencil state (depth on, LESS, writes) in wgpu terms.
DEFAULT_DEPTH = {"depth_write_enabled": True, "depth_compare": "less"}


# --- state, in both vocabularies ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Blend:
    d3d: g.BlendDesc
    wgpu: Sequence[dict]  # per render target: "blend" and/or "write_mask"; one entry serves every target
    factor: tuple = (1.0, 1.0, 1.0, 1.0)  # OMSetBlendState's factor / set_blend_constant
    alpha_to_coverage: bool = False  # wgpu's multisample.alpha_to_coverage_enabled
    sample_mask: int = 0xFFFFFFFF  # OMSetBlendState's mask / wgpu's multisample.mask


@dataclass(frozen=True, eq=False)
class Raster:
    d3d: g.RasterizerDesc
    wgpu: dict  # primitive state: cull_mode, front_face, polygon_mode, unclipped_depth
    bias: dict = field(default_factory=dict)  # wgpu depth_bias, depth_bias_slope_scale, depth_bias_clamp


@dataclass(frozen=True, eq=False)
class DepthStencil:
    d3d: g.DepthStencilDesc
    wgpu: dict  # depth_write_enabled, depth_compare, stencil_front/back, stencil_read/write_mask
    ref: int = 0  # OMSetDepthStencilState's StencilRef / set_stencil_reference


@dataclass(frozen=True, eq=False)
class Sampler:
    d3d: g.SamplerDesc
    wgpu: dict  # create_sampler keyword arguments


@dataclass(eq=False)
class Texture:
    """A texture both sides create from the same bytes: `subresources` in D3D11's order (slice
    by slice, mip 0 first within a slice), each (h, w, 4) uint8, RGBA8. `dimension` "1d"
    (subresources (1, w, 4)): CreateTexture1D on the guest, a native WebGPU 1D texture on the
    direct side (which allows neither mips nor layers); "3d" (one (depth, h, w, 4) array per
    mip): CreateTexture3D and a 3D texture."""

    subresources: list
    mips: int = 1
    layers: int = 1
    cube: bool = False
    generate_mips: bool = False  # GenerateMips on the guest, direct.generate_mips on wgpu, before the draw
    srv: dict = field(default_factory=dict)  # guest create_shader_resource_view keyword arguments
    view: dict = field(default_factory=dict)  # wgpu create_view keyword arguments
    dimension: str = "2d"  # "1d", "2d" or "3d"


#: Point and trilinear sampling, clamped (wgpu's sampler defaults are nearest, clamp-to-edge).
POINT = Sampler(g.SamplerDesc(g.Filter.MIN_MAG_MIP_POINT), {})
LINEAR = Sampler(g.SamplerDesc(g.Filter.MIN_MAG_MIP_LINEAR),
                 {"mag_filter": "linear", "min_filter": "linear", "mipmap_filter": "linear"})

#: Culling off; D3D11's clockwise front face (wgpu's default front face is counter-clockwise).
NO_CULL = Raster(g.RasterizerDesc(cull_mode=g.CullMode.NONE), {"cull_mode": "none", "front_face": "cw"})


# --- draw calls ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """A DeviceContext draw method and its arguments (an indirect draw takes the argument
    array and the byte offset; each side puts the array into a buffer of its own)."""

    method: str
    args: tuple

    def guest(self, device: g.Device, ctx) -> None:
        if self.method.endswith("_indirect"):
            data, offset = self.args
            buf = device.create_buffer(g.BufferDesc(data.nbytes, 0, misc_flags=ResourceMiscFlag.DRAWINDIRECT_ARGS),
                                       data)
            getattr(ctx, self.method)(buf, offset)
        else:
            getattr(ctx, self.method)(*self.args)

    def direct(self, d: wgpu.GPUDevice, p) -> None:
        a = self.args
        if self.method == "draw":
            p.draw(a[0], 1, a[1], 0)
        elif self.method == "draw_indexed":
            p.draw_indexed(a[0], 1, a[1], a[2], 0)
        elif self.method == "draw_instanced":
            p.draw(*a)
        elif self.method == "draw_indexed_instanced":
            p.draw_indexed(*a)
        elif self.method == "draw_instanced_indirect":
            p.draw_indirect(direct.buffer(d, a[0], wgpu.BufferUsage.INDIRECT), a[1])
        elif self.method == "draw_indexed_instanced_indirect":
            p.draw_indexed_indirect(direct.buffer(d, a[0], wgpu.BufferUsage.INDIRECT), a[1])
        else:
            raise ValueError(f"unknown draw method {self.method}")


def draw(vertex_count: int, start: int = 0) -> Call:
    return Call("draw", (vertex_count, start))


def draw_indexed(index_count: int, start_index: int = 0, base_vertex: int = 0) -> Call:
    return Call("draw_indexed", (index_count, start_index, base_vertex))


def draw_instanced(vertex_count: int, instance_count: int, start_vertex: int = 0, start_instance: int = 0) -> Call:
    return Call("draw_instanced", (vertex_count, instance_count, start_vertex, start_instance))


def draw_indexed_instanced(index_count: int, instance_count: int, start_index: int = 0, base_vertex: int = 0,
                           start_instance: int = 0) -> Call:
    return Call("draw_indexed_instanced", (index_count, instance_count, start_index, base_vertex, start_instance))


def draw_instanced_indirect(args: Sequence[int], offset: int = 0) -> Call:
    return Call("draw_instanced_indirect", (np.asarray(args, np.uint32), offset))


def draw_indexed_instanced_indirect(args: Sequence[int], offset: int = 0) -> Call:
    return Call("draw_indexed_instanced_indirect", (np.asarray(args, np.uint32), offset))


@dataclass(eq=False)
class Draw:
    """One draw with the state it needs. `vertices` feeds slot 0, `instances` slot 1 (float32
    records, one row each); `indices` (uint16 or uint32: R16_UINT or R32_UINT) makes it
    indexed. `call` defaults to drawing every index or vertex once."""

    vertices: np.ndarray | None = None
    layout: Sequence[g.InputElementDesc] | None = POS_COLOR
    instances: np.ndarray | None = None
    indices: np.ndarray | None = None
    call: Call | None = None
    topology: g.PrimitiveTopology = g.PrimitiveTopology.TRIANGLELIST
    vs: str | bytes = COLOR_VS  # WGSL, or DXBC bytecode (guest side only: pass the direct side a `reference`)
    ps: str | bytes | None = COLOR_PS
    blend: Blend | None = None  # None: D3D11's default blend state
    raster: Raster | None = NO_CULL  # None: D3D11's default (cull back, clockwise front)
    depth: DepthStencil | None = None  # None: D3D11's default depth-stencil state
    viewport: tuple | None = None  # (x, y, w, h, min_depth, max_depth); None: the whole target
    scissor: tuple | None = None  # (left, top, right, bottom); applies where raster enables it
    vs_constants: dict = field(default_factory=dict)  # slot -> float32 array
    constants: dict = field(default_factory=dict)  # pixel-stage constant buffers: slot -> float32 array
    textures: dict = field(default_factory=dict)  # pixel-stage shader resources: slot -> Texture
    samplers: dict = field(default_factory=dict)  # pixel-stage samplers: slot -> Sampler
    query: g.QueryType | None = None  # OCCLUSION or OCCLUSION_PREDICATE around this draw

    def the_call(self) -> Call:
        if self.call is not None:
            return self.call
        if self.indices is not None:
            return draw_indexed(len(self.indices))
        return draw(len(self.vertices) if self.vertices is not None else 3)


@dataclass
class Target:
    width: int = W
    height: int = H
    count: int = 1  # render targets (RGBA8); target 0 is the swap chain's back buffer
    clear: tuple | list = CLEAR  # one color, or one per target
    depth: g.DxgiFormat | None = None  # a depth-stencil view of this format
    depth_clear: float = 1.0
    stencil_clear: int = 0
    samples: int = 1  # 4: draw into 4x textures, then ResolveSubresource / a resolve target

    def clears(self) -> list:
        return list(self.clear) if isinstance(self.clear[0], (tuple, list)) else [self.clear] * self.count

    @property
    def has_stencil(self) -> bool:
        return self.depth == F.D24_UNORM_S8_UINT


@dataclass
class Result:
    frames: list  # through pvgpu, one (h, w, 4) array per render target
    expected: list  # the same from direct wgpu
    queries: list  # GetData of each queried draw, through pvgpu
    expected_queries: list  # the same from a wgpu occlusion query set

    @property
    def frame(self) -> np.ndarray:
        return self.frames[0]


# --- geometry -----------------------------------------------------------------------------------
def quad(x0: float, y0: float, x1: float, y1: float, z: float = 0.5, color=(1, 1, 1, 1)) -> np.ndarray:
    """Two triangles, clockwise on screen (D3D11's default front face), as POS_COLOR rows.
    `color` is one RGBA or four (corners: bottom-left, top-left, top-right, bottom-right)."""
    colors = np.broadcast_to(np.asarray(color, np.float32).reshape(-1, 4), (4, 4))
    zs = np.broadcast_to(np.asarray(z, np.float32), (4,))
    corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]
    rows = [(*corners[i], zs[i], *colors[i]) for i in (0, 1, 2, 0, 2, 3)]
    return np.array(rows, np.float32)


def ccw(vertices: np.ndarray) -> np.ndarray:
    """The same triangles wound the other way."""
    return vertices.reshape(-1, 3, vertices.shape[1])[:, ::-1].reshape(vertices.shape).copy()


def gradient(x0=-1.0, y0=-1.0, x1=1.0, y1=1.0, z=0.5) -> np.ndarray:
    """An opaque quad whose four corners differ in every channel: a varied destination."""
    return quad(x0, y0, x1, y1, z, [(0.9, 0.1, 0.2, 0.3), (0.2, 0.8, 0.1, 0.6), (0.1, 0.3, 0.9, 1.0),
                                     (0.7, 0.7, 0.6, 0.8)])


def pattern(size: int, seed: int = 1, height: int | None = None) -> np.ndarray:
    """Random RGBA8 texels, (height or size, size, 4)."""
    return np.random.default_rng(seed).integers(0, 256, (height or size, size, 4), dtype=np.uint8)


def mip_chain(size: int, seed: int = 3, solid: bool = False) -> list[np.ndarray]:
    """Every mip of a size x size texture: random texels, or one random color per mip."""
    rng = np.random.default_rng(seed)
    mips = []
    while size:
        mips.append(np.broadcast_to(rng.integers(0, 256, 4, dtype=np.uint8), (size, size, 4)).copy() if solid
                    else rng.integers(0, 256, (size, size, 4), dtype=np.uint8))
        size //= 2
    return mips


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str = "frame") -> None:
    __tracebackhide__ = True
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    if diff.max() > 1:
        ys, xs = np.nonzero(diff.max(axis=-1) > 1)
        y, x = ys[0], xs[0]
        raise AssertionError(f"{what}: {len(ys)} pixels differ (max {diff.max()}); first at (x={x}, y={y}): "
                             f"pvgpu {tuple(actual[y, x])}, direct wgpu {tuple(expected[y, x])}")


def assert_varied(frame: np.ndarray, min_colors: int = 2) -> None:
    colors = len(np.unique(frame.reshape(-1, frame.shape[-1]), axis=0))
    assert colors >= min_colors, f"the frame has {colors} distinct colors, fewer than the scene's {min_colors}"


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > 1))


# --- the two sides ----------------------------------------------------------------------------
class Pair:
    """The fixture `pair`: a pvgpu guest device on a running host, and a direct wgpu device."""

    def __init__(self, host, device: g.Device, wgpu_device: wgpu.GPUDevice):
        self.host = host
        self.device = device
        self.ctx = device.get_immediate_context()
        self.wgpu = wgpu_device

    def check(self, draws: Sequence[Draw], target: Target | None = None, *, baseline: Sequence[Draw] | None = None,
              min_changed: int = 8, min_colors: int = 2, reference: Sequence[Draw] | None = None) -> Result:
        """Run `draws` on both sides and compare (see the module docstring). `reference`: what
        the direct side draws instead, where wgpu-py cannot express a state as such (the scene
        then builds the equivalent work by other means)."""
        target = target or Target()
        actual, queries = self.run_guest(draws, target)
        expected, expected_queries = self.run_direct(draws if reference is None else reference, target)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"render target {i}")
        assert len(actual) == len(expected) == target.count
        assert_varied(expected[0], min_colors)
        assert queries == expected_queries, f"queries: pvgpu {queries}, direct wgpu {expected_queries}"
        if baseline is not None:
            base = self.run_direct(baseline, target)[0][0]
            changed = changed_pixels(expected[0], base)
            assert changed >= min_changed, (f"only {changed} pixels differ from the baseline: the scene does not "
                                            f"show the feature")
        return Result(actual, expected, queries, expected_queries)

    # --- pvgpu ------------------------------------------------------------------------------------
    def run_guest(self, draws: Sequence[Draw], t: Target) -> tuple[list, list]:
        dev, ctx = self.device, self.ctx
        chain, back_rtv = guest.swap_chain_target(dev, t.width, t.height)
        back = chain.get_buffer(0)
        rt_flags = g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE
        extra = [dev.create_texture2d(g.Texture2DDesc(t.width, t.height, bind_flags=rt_flags))
                 for _ in range(t.count - 1)]
        if t.samples == 1:
            rtvs = [back_rtv] + [dev.create_render_target_view(x) for x in extra]
        else:
            msaa = [dev.create_texture2d(g.Texture2DDesc(t.width, t.height, sample_count=t.samples,
                                                         bind_flags=g.BindFlag.RENDER_TARGET))
                    for _ in range(t.count)]
            rtvs = [dev.create_render_target_view(x) for x in msaa]
        dsv = None
        if t.depth is not None:
            ds = dev.create_texture2d(g.Texture2DDesc(t.width, t.height, t.depth, sample_count=t.samples,
                                                      bind_flags=g.BindFlag.DEPTH_STENCIL))
            dsv = dev.create_depth_stencil_view(ds)
        ctx.om_set_render_targets(rtvs, dsv)
        for rtv, color in zip(rtvs, t.clears()):
            ctx.clear_render_target_view(rtv, color)
        if dsv is not None:
            flags = g.ClearFlag.DEPTH | (g.ClearFlag.STENCIL if t.has_stencil else 0)
            ctx.clear_depth_stencil_view(dsv, flags, t.depth_clear, t.stencil_clear)
        queries = []
        cache: dict = {}
        for d in draws:
            q = self.draw_guest(d, t, cache)
            if q is not None:
                queries.append(q)
        if t.samples > 1:
            for dst, src in zip([back] + extra, msaa):
                ctx.resolve_subresource(dst, 0, src, 0, F.R8G8B8A8_UNORM)
        chain.present()
        frames = [guest.presented(self.host, chain)] + [guest.read_texture(dev, x) for x in extra]
        return frames, [guest.wait_data(ctx, q) for q in queries]

    def _guest_state(self, cache: dict, obj, make):
        if obj is None:
            return None
        if id(obj) not in cache:
            cache[id(obj)] = (obj, make(obj))  # keep obj alive so its id stays unique
        return cache[id(obj)][1]

    def draw_guest(self, d: Draw, t: Target, cache: dict | None = None):
        """Record one draw through the guest API (render targets already bound); returns its query."""
        cache = {} if cache is None else cache
        dev, ctx = self.device, self.ctx
        vbs = [dev.create_buffer(g.BufferDesc(a.nbytes, g.BindFlag.VERTEX_BUFFER), a)
               for a in (d.vertices, d.instances) if a is not None]
        if d.layout is not None and vbs:
            # A DXBC vertex shader (bytes): the layout is matched to its input signature by semantic.
            key = (tuple(d.layout), d.vs if isinstance(d.vs, bytes) else None)
            ctx.ia_set_input_layout(self._guest_state(cache, key, lambda k: dev.create_input_layout(*k)))
            ctx.ia_set_vertex_buffers(0, vbs, [a.strides[0] for a in (d.vertices, d.instances) if a is not None])
        else:
            ctx.ia_set_input_layout(None)
        if d.indices is not None:
            fmt = F.R16_UINT if d.indices.dtype == np.uint16 else F.R32_UINT
            ctx.ia_set_index_buffer(dev.create_buffer(g.BufferDesc(d.indices.nbytes, g.BindFlag.INDEX_BUFFER),
                                                      d.indices), fmt)
        ctx.ia_set_primitive_topology(d.topology)
        shaders = cache.setdefault("shaders", {})
        if ("vs", d.vs) not in shaders:
            shaders[("vs", d.vs)] = dev.create_vertex_shader(d.vs)
        ctx.vs_set_shader(shaders[("vs", d.vs)])
        if d.ps is not None and ("ps", d.ps) not in shaders:
            shaders[("ps", d.ps)] = dev.create_pixel_shader(d.ps)
        ctx.ps_set_shader(shaders[("ps", d.ps)] if d.ps is not None else None)
        blend = self._guest_state(cache, d.blend, lambda b: dev.create_blend_state(b.d3d))
        if d.blend is None:
            ctx.om_set_blend_state(None)
        else:
            ctx.om_set_blend_state(blend, d.blend.factor, d.blend.sample_mask)
        ctx.rs_set_state(self._guest_state(cache, d.raster, lambda r: dev.create_rasterizer_state(r.d3d)))
        depth = self._guest_state(cache, d.depth, lambda s: dev.create_depth_stencil_state(s.d3d))
        ctx.om_set_depth_stencil_state(depth, d.depth.ref if d.depth else 0)
        ctx.rs_set_viewports([g.Viewport(*(d.viewport or (0, 0, t.width, t.height)))])
        if d.scissor is not None:
            ctx.rs_set_scissor_rects([g.Rect(*d.scissor)])
        for stage_set, constants in ((ctx.vs_set_constant_buffers, d.vs_constants),
                                     (ctx.ps_set_constant_buffers, d.constants)):
            for slot, data in constants.items():
                stage_set(slot, [dev.create_buffer(g.BufferDesc(data.nbytes, g.BindFlag.CONSTANT_BUFFER), data)])
        for slot, tex in d.textures.items():
            ctx.ps_set_shader_resources(slot, [self._guest_state(cache, tex, self._guest_texture)])
        for slot, s in d.samplers.items():
            ctx.ps_set_samplers(slot, [self._guest_state(cache, s, lambda s: dev.create_sampler_state(s.d3d))])
        query = None
        if d.query is not None:
            query = dev.create_query(d.query)
            ctx.begin(query)
        d.the_call().guest(dev, ctx)
        if query is not None:
            ctx.end(query)
        return query

    def _guest_texture(self, tex: Texture):
        h, w = tex.subresources[0].shape[:2]
        misc = (ResourceMiscFlag.TEXTURECUBE if tex.cube else 0) | (
            ResourceMiscFlag.GENERATE_MIPS if tex.generate_mips else 0)
        bind = g.BindFlag.SHADER_RESOURCE | (g.BindFlag.RENDER_TARGET if tex.generate_mips else 0)
        if tex.dimension == "3d":
            depth, h, w = tex.subresources[0].shape[:3]
            resource = self.device.create_texture3d(g.Texture3DDesc(w, h, depth, mip_levels=tex.mips, bind_flags=bind,
                                                                    misc_flags=misc), tex.subresources)
        elif tex.dimension == "1d":
            resource = self.device.create_texture1d(g.Texture1DDesc(w, mip_levels=tex.mips, array_size=tex.layers,
                                                                    bind_flags=bind, misc_flags=misc),
                                                    tex.subresources)
        else:
            resource = self.device.create_texture2d(g.Texture2DDesc(w, h, mip_levels=tex.mips, array_size=tex.layers,
                                                                    bind_flags=bind, misc_flags=misc),
                                                    tex.subresources)
        if tex.generate_mips:
            self.ctx.generate_mips(self.device.create_shader_resource_view(resource))
        return self.device.create_shader_resource_view(resource, **tex.srv)

    # --- direct wgpu ------------------------------------------------------------------------------
    def run_direct(self, draws: Sequence[Draw], t: Target) -> tuple[list, list]:
        dev = self.wgpu
        resolved = [direct.target(dev, t.width, t.height) for _ in range(t.count)]
        msaa = [direct.target(dev, t.width, t.height, samples=t.samples) for _ in range(t.count)] \
            if t.samples > 1 else resolved
        colors = [{"view": m.create_view(), "resolve_target": r.create_view() if t.samples > 1 else None,
                   "load_op": "clear", "store_op": "store", "clear_value": c}
                  for m, r, c in zip(msaa, resolved, t.clears())]
        depth = None
        if t.depth is not None:
            ds = direct.target(dev, t.width, t.height, DEPTH_FORMATS[t.depth], samples=t.samples)
            depth = {"view": ds.create_view(), "depth_load_op": "clear", "depth_store_op": "store",
                     "depth_clear_value": t.depth_clear}
            if t.has_stencil:
                depth.update(stencil_load_op="clear", stencil_store_op="store", stencil_clear_value=t.stencil_clear)
        n_queries = sum(d.query is not None for d in draws)
        query_set = dev.create_query_set(type="occlusion", count=n_queries) if n_queries else None
        views = self.direct_views(draws)
        enc = dev.create_command_encoder()
        p = enc.begin_render_pass(color_attachments=colors, depth_stencil_attachment=depth,
                                  occlusion_query_set=query_set)
        slot = 0
        for d in draws:
            if d.query is not None:
                p.begin_occlusion_query(slot)
            self.draw_direct(p, d, t, views)
            if d.query is not None:
                p.end_occlusion_query()
                slot += 1
        p.end()
        counts = []
        if query_set is not None:
            out = dev.create_buffer(size=8 * n_queries,
                                    usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
            enc.resolve_query_set(query_set, 0, n_queries, out, 0)
        dev.queue.submit([enc.finish()])
        if query_set is not None:
            counts = [int(c) for c in direct.read_buffer(dev, out, 8 * n_queries).view(np.uint64)]
        results = [c if d.query == g.QueryType.OCCLUSION else c > 0
                   for c, d in zip(counts, [d for d in draws if d.query is not None])]
        return [direct.readback(dev, r, t.width, t.height) for r in resolved], results

    def direct_views(self, draws: Sequence[Draw]) -> dict:
        """id(Texture) -> (Texture, wgpu view) for the textures of `draws`, made (and their mips
        generated) before the render pass that samples them."""
        views = {}
        for d in draws:
            for tex in d.textures.values():
                if id(tex) not in views:
                    views[id(tex)] = (tex, self._direct_texture(tex))
        return views

    def _direct_texture(self, tex: Texture):
        dev = self.wgpu
        usage = wgpu.TextureUsage.RENDER_ATTACHMENT if tex.generate_mips else 0
        resource = direct.texture(dev, tex.subresources, tex.mips, tex.layers, usage=usage, dimension=tex.dimension)
        if tex.generate_mips:
            direct.generate_mips(dev, resource, tex.mips, tex.layers)
        return resource.create_view(**tex.view)

    def draw_direct(self, p, d: Draw, t: Target, views: dict | None = None) -> None:
        """Record one draw into the open wgpu render pass `p` (`views`: from `direct_views`)."""
        views = views if views is not None else self.direct_views([d])
        dev = self.wgpu
        buffers = []
        if d.layout is not None and d.vertices is not None:
            arrays = [d.vertices, d.instances]
            ends: dict[int, int] = {}
            for loc, e in enumerate(d.layout):
                fmt, size = VERTEX_FORMATS[e.format]
                while len(buffers) <= e.input_slot:
                    buffers.append({"array_stride": arrays[len(buffers)].strides[0], "step_mode": "vertex",
                                    "attributes": []})
                offset = ends.get(e.input_slot, 0) if e.aligned_byte_offset == g.APPEND_ALIGNED_ELEMENT \
                    else e.aligned_byte_offset
                ends[e.input_slot] = offset + size
                b = buffers[e.input_slot]
                b["attributes"].append({"format": fmt, "offset": offset, "shader_location": loc})
                if e.input_slot_class == g.InputClassification.PER_INSTANCE_DATA:
                    b["step_mode"] = "instance"
        primitive = {"topology": TOPOLOGIES[d.topology],
                     **(d.raster.wgpu if d.raster else {"cull_mode": "back", "front_face": "cw"})}
        if d.indices is not None and d.topology in (g.PrimitiveTopology.TRIANGLESTRIP, g.PrimitiveTopology.LINESTRIP):
            primitive["strip_index_format"] = "uint16" if d.indices.dtype == np.uint16 else "uint32"
        depth_stencil = None
        if t.depth is not None:
            depth_stencil = {"format": DEPTH_FORMATS[t.depth], **(d.depth.wgpu if d.depth else DEFAULT_DEPTH),
                             **(d.raster.bias if d.raster else {})}
        entries = d.blend.wgpu if d.blend else [{}]
        targets = [{"format": direct.RGBA8, **(entries[i] if len(entries) > 1 else entries[0])}
                   for i in range(t.count)]
        multisample = {"count": t.samples, "mask": d.blend.sample_mask if d.blend else 0xFFFFFFFF,
                       "alpha_to_coverage_enabled": bool(d.blend and d.blend.alpha_to_coverage)}
        pipe = direct.pipeline(dev, d.vs, d.ps, buffers=buffers, primitive=primitive, depth_stencil=depth_stencil,
                               targets=targets, multisample=multisample)
        p.set_pipeline(pipe)

        def uniforms(constants: dict) -> dict:
            return {b: direct.uniform(direct.buffer(dev, a, wgpu.BufferUsage.UNIFORM)) for b, a in constants.items()}
        groups = {0: uniforms(d.vs_constants), 1: uniforms(d.constants)}
        groups[1].update({16 + s: dev.create_sampler(**smp.wgpu) for s, smp in d.samplers.items()})
        groups[1].update({32 + s: views[id(tex)][1] for s, tex in d.textures.items()})
        direct.bind(dev, p, pipe, groups)
        for slot, a in enumerate([d.vertices, d.instances] if buffers else []):
            if a is not None:
                p.set_vertex_buffer(slot, direct.buffer(dev, a, wgpu.BufferUsage.VERTEX))
        if d.indices is not None:
            p.set_index_buffer(direct.buffer(dev, d.indices, wgpu.BufferUsage.INDEX),
                               "uint16" if d.indices.dtype == np.uint16 else "uint32")
        p.set_viewport(*(*(d.viewport or (0, 0, t.width, t.height)), 0.0, 1.0)[:6])
        if d.scissor is not None and d.raster is not None and d.raster.d3d.scissor_enable:
            left, top, right, bottom = d.scissor
            p.set_scissor_rect(left, top, right - left, bottom - top)
        else:
            p.set_scissor_rect(0, 0, t.width, t.height)
        p.set_blend_constant(d.blend.factor if d.blend else (1, 1, 1, 1))
        if t.depth is not None:
            p.set_stencil_reference(d.depth.ref if d.depth else 0)
        d.the_call().direct(dev, p)


class Steps:
    """A scene made of steps on both sides, for work between draws (copies, updates, maps).
    The guest side renders to a swap chain's back buffer (`back`, `rtv`, bound and cleared),
    the direct side to an RGBA8 texture (`tex`) through `encoder`. `draw` records draws on
    both sides; `direct` on the direct side only (the scene recorded the guest side itself,
    e.g. reading a buffer it mapped); `submit` submits the direct work so far, so a queue
    write lands after it; `compare` presents, reads both back and asserts they match."""

    def __init__(self, pair, target: Target = Target()):
        self.pair, self.t = pair, target
        self.chain, self.rtv = guest.swap_chain_target(pair.device, target.width, target.height)
        self.back = self.chain.get_buffer(0)
        pair.ctx.om_set_render_targets([self.rtv])
        pair.ctx.clear_render_target_view(self.rtv, CLEAR)
        self.cache: dict = {}
        self.tex = direct.target(pair.wgpu, target.width, target.height, usage=wgpu.TextureUsage.COPY_DST)
        self.encoder = pair.wgpu.create_command_encoder()
        self.load = "clear"

    def draw(self, *draws: Draw) -> None:
        """The draws on both sides (the guest's render target stays bound)."""
        for d in draws:
            self.pair.draw_guest(d, self.t, self.cache)
        self.direct(*draws)

    def direct(self, *draws: Draw, views: dict | None = None, statistics=None) -> None:
        """The draws on the direct side only (the scene recorded the guest side itself).
        `views`: id(Texture) -> (Texture, wgpu view) for textures the scene made itself
        (default: made from each Texture's subresources); `statistics`: (query set, slot) of a
        pipeline-statistics query around the pass."""
        p = self.encoder.begin_render_pass(color_attachments=[{"view": self.tex.create_view(), "load_op": self.load,
                                                               "store_op": "store", "clear_value": CLEAR}])
        self.load = "load"
        if statistics is not None:
            p._begin_pipeline_statistics_query(*statistics)
        views = self.pair.direct_views(draws) if views is None else views
        for dr in draws:
            self.pair.draw_direct(p, dr, self.t, views)
        if statistics is not None:
            p._end_pipeline_statistics_query()
        p.end()

    def submit(self) -> None:
        """Submit the direct work recorded so far (before a queue write must land after it)."""
        if self.load == "clear":
            self.draw()  # the clear
        self.pair.wgpu.queue.submit([self.encoder.finish()])
        self.encoder = self.pair.wgpu.create_command_encoder()

    def compare(self, min_colors: int = 2) -> np.ndarray:
        self.submit()
        self.chain.present()
        actual = guest.presented(self.pair.host, self.chain)
        expected = direct.readback(self.pair.wgpu, self.tex, self.t.width, self.t.height)
        assert_same(actual, expected)
        assert_varied(expected, min_colors)
        return actual
