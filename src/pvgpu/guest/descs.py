"""D3D11 description structures, with D3D11's defaults (CD3D11_* style)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol.enums import (
    Blend, BlendOp, BindFlag, ColorWriteFlag, ComparisonFunc, CullMode, DepthWriteMask, DxgiFormat,
    FillMode, Filter, InputClassification, StencilOp, TextureAddressMode, Usage,
)
from ..protocol.spec import APPEND_ALIGNED_ELEMENT


@dataclass
class BufferDesc:
    byte_width: int
    bind_flags: int = BindFlag.VERTEX_BUFFER
    usage: Usage = Usage.DEFAULT
    cpu_access_flags: int = 0
    misc_flags: int = 0
    structure_byte_stride: int = 0


@dataclass
class Texture2DDesc:
    width: int
    height: int
    format: DxgiFormat = DxgiFormat.R8G8B8A8_UNORM
    mip_levels: int = 1
    array_size: int = 1
    sample_count: int = 1
    sample_quality: int = 0
    usage: Usage = Usage.DEFAULT
    bind_flags: int = BindFlag.SHADER_RESOURCE
    cpu_access_flags: int = 0
    misc_flags: int = 0
    depth = 1


@dataclass
class Texture1DDesc:
    width: int
    format: DxgiFormat = DxgiFormat.R8G8B8A8_UNORM
    mip_levels: int = 1
    array_size: int = 1
    usage: Usage = Usage.DEFAULT
    bind_flags: int = BindFlag.SHADER_RESOURCE
    cpu_access_flags: int = 0
    misc_flags: int = 0
    height = 1
    depth = 1


@dataclass
class Texture3DDesc:
    width: int
    height: int
    depth: int
    format: DxgiFormat = DxgiFormat.R8G8B8A8_UNORM
    mip_levels: int = 1
    usage: Usage = Usage.DEFAULT
    bind_flags: int = BindFlag.SHADER_RESOURCE
    cpu_access_flags: int = 0
    misc_flags: int = 0
    array_size = 1


@dataclass
class RenderTargetBlendDesc:
    blend_enable: bool = False
    src_blend: Blend = Blend.ONE
    dest_blend: Blend = Blend.ZERO
    blend_op: BlendOp = BlendOp.ADD
    src_blend_alpha: Blend = Blend.ONE
    dest_blend_alpha: Blend = Blend.ZERO
    blend_op_alpha: BlendOp = BlendOp.ADD
    render_target_write_mask: int = ColorWriteFlag.RED | ColorWriteFlag.GREEN | ColorWriteFlag.BLUE | ColorWriteFlag.ALPHA


@dataclass
class BlendDesc:
    render_target: list[RenderTargetBlendDesc] = field(default_factory=lambda: [RenderTargetBlendDesc()])
    alpha_to_coverage_enable: bool = False
    independent_blend_enable: bool = False


@dataclass
class RasterizerDesc:
    fill_mode: FillMode = FillMode.SOLID
    cull_mode: CullMode = CullMode.BACK
    front_counter_clockwise: bool = False
    depth_bias: int = 0
    depth_bias_clamp: float = 0.0
    slope_scaled_depth_bias: float = 0.0
    depth_clip_enable: bool = True
    scissor_enable: bool = False
    multisample_enable: bool = False
    antialiased_line_enable: bool = False


@dataclass
class DepthStencilOpDesc:
    stencil_fail_op: StencilOp = StencilOp.KEEP
    stencil_depth_fail_op: StencilOp = StencilOp.KEEP
    stencil_pass_op: StencilOp = StencilOp.KEEP
    stencil_func: ComparisonFunc = ComparisonFunc.ALWAYS


@dataclass
class DepthStencilDesc:
    depth_enable: bool = True
    depth_write_mask: DepthWriteMask = DepthWriteMask.ALL
    depth_func: ComparisonFunc = ComparisonFunc.LESS
    stencil_enable: bool = False
    stencil_read_mask: int = 0xFF
    stencil_write_mask: int = 0xFF
    front_face: DepthStencilOpDesc = field(default_factory=DepthStencilOpDesc)
    back_face: DepthStencilOpDesc = field(default_factory=DepthStencilOpDesc)


@dataclass
class SamplerDesc:
    filter: Filter = Filter.MIN_MAG_MIP_LINEAR
    address_u: TextureAddressMode = TextureAddressMode.CLAMP
    address_v: TextureAddressMode = TextureAddressMode.CLAMP
    address_w: TextureAddressMode = TextureAddressMode.CLAMP
    mip_lod_bias: float = 0.0
    max_anisotropy: int = 1
    comparison_func: ComparisonFunc = ComparisonFunc.NEVER
    border_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    min_lod: float = -3.402823466e38
    max_lod: float = 3.402823466e38


@dataclass
class InputElementDesc:
    """D3D11_INPUT_ELEMENT_DESC. With a DXBC vertex shader the name and index are matched against its
    input signature; with a WGSL one, element i of a layout feeds @location(i)."""

    semantic_name: str
    semantic_index: int
    format: DxgiFormat
    input_slot: int = 0
    aligned_byte_offset: int = APPEND_ALIGNED_ELEMENT
    input_slot_class: InputClassification = InputClassification.PER_VERTEX_DATA
    instance_data_step_rate: int = 0


@dataclass
class Viewport:
    top_left_x: float
    top_left_y: float
    width: float
    height: float
    min_depth: float = 0.0
    max_depth: float = 1.0


@dataclass
class Rect:
    left: int
    top: int
    right: int
    bottom: int


@dataclass
class Box:
    left: int
    top: int
    front: int
    right: int
    bottom: int
    back: int


@dataclass
class SwapChainDesc:
    width: int
    height: int
    format: DxgiFormat = DxgiFormat.R8G8B8A8_UNORM
    buffer_count: int = 2


@dataclass(frozen=True)
class Rational:
    """DXGI_RATIONAL: a refresh rate as numerator / denominator hertz (0/0: unspecified)."""

    numerator: int = 0
    denominator: int = 0

    @property
    def hz(self) -> float:
        return self.numerator / self.denominator if self.denominator else 0.0

    @classmethod
    def from_millihertz(cls, millihertz: int) -> "Rational":
        return cls(millihertz, 1000) if millihertz % 1000 else cls(millihertz // 1000, 1)


@dataclass(frozen=True)
class ModeDesc:
    """DXGI_MODE_DESC: a display mode. In `find_closest_matching_mode` and `resize_target`, a
    width, height or refresh rate of 0 matches anything (the current target's is kept)."""

    width: int = 0
    height: int = 0
    refresh_rate: Rational = Rational()
    format: DxgiFormat | int = 0

    @property
    def refresh_rate_hz(self) -> float:
        return self.refresh_rate.hz

    @property
    def refresh_millihertz(self) -> int:
        r = self.refresh_rate
        return r.numerator * 1000 // r.denominator if r.denominator else 0


@dataclass(frozen=True)
class FrameStatistics:
    """DXGI_FRAME_STATISTICS. `sync_qpc_time` is in nanoseconds of the host's CLOCK_MONOTONIC
    (time.monotonic_ns on the machine running the host), not QueryPerformanceCounter ticks."""

    present_count: int
    present_refresh_count: int
    sync_refresh_count: int
    sync_qpc_time: int
