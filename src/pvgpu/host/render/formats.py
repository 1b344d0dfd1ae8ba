"""DXGI formats in wgpu terms: texture formats, vertex formats, index formats, and what this
host can do with each DXGI format (the control page's format table)."""

from __future__ import annotations

from dataclasses import dataclass

from ...protocol.enums import DxgiFormat as F, ErrorCode, FormatSupport as S
from ..errors import CommandError

TEXTURE_FORMATS: dict[F, str] = {
    F.R32G32B32A32_FLOAT: "rgba32float",
    F.R32G32B32A32_UINT: "rgba32uint",
    F.R16G16B16A16_FLOAT: "rgba16float",
    F.R32G32_FLOAT: "rg32float",
    F.R10G10B10A2_UNORM: "rgb10a2unorm",
    F.R11G11B10_FLOAT: "rg11b10ufloat",
    F.R8G8B8A8_UNORM: "rgba8unorm",
    F.R8G8B8A8_UNORM_SRGB: "rgba8unorm-srgb",
    F.R8G8B8A8_UINT: "rgba8uint",
    F.R16G16_FLOAT: "rg16float",
    F.D32_FLOAT: "depth32float",
    F.R32_FLOAT: "r32float",
    F.R32_UINT: "r32uint",
    F.D24_UNORM_S8_UINT: "depth24plus-stencil8",
    F.R8G8_UNORM: "rg8unorm",
    F.R16_FLOAT: "r16float",
    F.D16_UNORM: "depth16unorm",
    F.R16_UINT: "r16uint",
    F.R8_UNORM: "r8unorm",
    F.B8G8R8A8_UNORM: "bgra8unorm",
    F.B8G8R8A8_UNORM_SRGB: "bgra8unorm-srgb",
    F.R32G32B32A32_SINT: "rgba32sint",
    F.R16G16B16A16_UINT: "rgba16uint",
    F.R16G16B16A16_SINT: "rgba16sint",
    F.R32G32_UINT: "rg32uint",
    F.R32G32_SINT: "rg32sint",
    F.R10G10B10A2_UINT: "rgb10a2uint",
    F.R8G8B8A8_SNORM: "rgba8snorm",
    F.R8G8B8A8_SINT: "rgba8sint",
    F.R16G16_UINT: "rg16uint",
    F.R16G16_SINT: "rg16sint",
    F.R32_SINT: "r32sint",
    F.R8G8_UINT: "rg8uint",
    F.R8G8_SNORM: "rg8snorm",
    F.R8G8_SINT: "rg8sint",
    F.R16_SINT: "r16sint",
    F.R8_UINT: "r8uint",
    F.R8_SNORM: "r8snorm",
    F.R8_SINT: "r8sint",
    F.R9G9B9E5_SHAREDEXP: "rgb9e5ufloat",
    F.D32_FLOAT_S8X24_UINT: "depth32float-stencil8",
}

#: WebGPU's capabilities of each texture format (its spec's format table): renderable,
#: blendable, filterable. Features listed in FEATURE_GATED add to them.
_R, _B, _F, _M, _V = 1, 2, 4, 8, 16  # renderable, blendable, filterable, 4x multisample, resolvable
WGPU_CAPS: dict[str, int] = {
    "r8unorm": _R | _B | _F | _M | _V, "r8snorm": _F, "r8uint": _R | _M, "r8sint": _R | _M,
    "r16uint": _R | _M, "r16sint": _R | _M, "r16float": _R | _B | _F | _M | _V,
    "rg8unorm": _R | _B | _F | _M | _V, "rg8snorm": _F, "rg8uint": _R | _M, "rg8sint": _R | _M,
    "r32uint": _R, "r32sint": _R, "r32float": _R | _M,
    "rg16uint": _R | _M, "rg16sint": _R | _M, "rg16float": _R | _B | _F | _M | _V,
    "rgba8unorm": _R | _B | _F | _M | _V, "rgba8unorm-srgb": _R | _B | _F | _M | _V, "rgba8snorm": _F,
    "rgba8uint": _R | _M, "rgba8sint": _R | _M, "bgra8unorm": _R | _B | _F | _M | _V,
    "bgra8unorm-srgb": _R | _B | _F | _M | _V,
    "rgb10a2uint": _R | _M, "rgb10a2unorm": _R | _B | _F | _M | _V, "rg11b10ufloat": _F, "rgb9e5ufloat": _F,
    "rg32uint": _R, "rg32sint": _R, "rg32float": _R,
    "rgba16uint": _R | _M, "rgba16sint": _R | _M, "rgba16float": _R | _B | _F | _M | _V,
    "rgba32uint": _R, "rgba32sint": _R, "rgba32float": _R,
    "depth16unorm": _M, "depth32float": _M, "depth24plus-stencil8": _M, "depth32float-stencil8": _M,
}
#: wgpu feature -> (formats, capability it adds, or None: the format exists only with it)
FEATURE_GATED: dict[str, tuple[tuple[str, ...], int | None]] = {
    "float32-filterable": (("r32float", "rg32float", "rgba32float"), _F),
    "rg11b10ufloat-renderable": (("rg11b10ufloat",), _R | _B | _M | _V),
    "depth32float-stencil8": (("depth32float-stencil8",), None),
}
#: WebGPU's storage-texture formats (texture unordered-access views); READ_WRITE ones may also
#: be read in the same shader (UAV typed load).
STORAGE_FORMATS = frozenset({"rgba8unorm", "rgba8snorm", "rgba8uint", "rgba8sint", "rgba16uint", "rgba16sint",
                             "rgba16float", "r32uint", "r32sint", "r32float", "rg32uint", "rg32sint", "rg32float",
                             "rgba32uint", "rgba32sint", "rgba32float"})
READ_WRITE_STORAGE_FORMATS = frozenset({"r32uint", "r32sint", "r32float"})
#: Formats a swap chain may have.
DISPLAY_FORMATS = frozenset({F.R8G8B8A8_UNORM, F.R8G8B8A8_UNORM_SRGB, F.B8G8R8A8_UNORM, F.B8G8R8A8_UNORM_SRGB})

#: The format a wgpu view of a texture may take instead of the texture's own (WebGPU allows
#: reinterpretation between sRGB twins only; textures are created with the twin as a view format).
SRGB_TWINS: dict[str, str] = {"rgba8unorm": "rgba8unorm-srgb", "rgba8unorm-srgb": "rgba8unorm",
                              "bgra8unorm": "bgra8unorm-srgb", "bgra8unorm-srgb": "bgra8unorm"}


@dataclass(frozen=True)
class Family:
    """A TYPELESS DXGI format: the wgpu format of a texture created in it (`color`, or `depth`
    when it has the DEPTH_STENCIL bind flag) and the typed views each allows: view format ->
    (wgpu view format, aspect)."""

    color: str | None
    depth: str | None
    color_views: dict
    depth_views: dict


_ALL, _DEPTH, _STENCIL = "all", "depth-only", "stencil-only"
TYPELESS: dict[F, Family] = {
    F.R8G8B8A8_TYPELESS: Family("rgba8unorm", None, {F.R8G8B8A8_UNORM: ("rgba8unorm", _ALL),
                                                     F.R8G8B8A8_UNORM_SRGB: ("rgba8unorm-srgb", _ALL)}, {}),
    F.B8G8R8A8_TYPELESS: Family("bgra8unorm", None, {F.B8G8R8A8_UNORM: ("bgra8unorm", _ALL),
                                                     F.B8G8R8A8_UNORM_SRGB: ("bgra8unorm-srgb", _ALL)}, {}),
    F.R32_TYPELESS: Family("r32float", "depth32float", {F.R32_FLOAT: ("r32float", _ALL)},
                           {F.D32_FLOAT: ("depth32float", _ALL), F.R32_FLOAT: ("depth32float", _DEPTH)}),
    F.R16_TYPELESS: Family("r16float", "depth16unorm", {F.R16_FLOAT: ("r16float", _ALL)},
                           {F.D16_UNORM: ("depth16unorm", _ALL), F.R16_UNORM: ("depth16unorm", _DEPTH)}),
    F.R24G8_TYPELESS: Family(None, "depth24plus-stencil8", {},
                             {F.D24_UNORM_S8_UINT: ("depth24plus-stencil8", _ALL),
                              F.R24_UNORM_X8_TYPELESS: ("depth24plus", _DEPTH),
                              F.X24_TYPELESS_G8_UINT: ("stencil8", _STENCIL)}),
    F.R32G8X24_TYPELESS: Family(None, "depth32float-stencil8", {},
                                {F.D32_FLOAT_S8X24_UINT: ("depth32float-stencil8", _ALL),
                                 F.R32_FLOAT_X8X24_TYPELESS: ("depth32float", _DEPTH),
                                 F.X32_TYPELESS_G8X24_UINT: ("stencil8", _STENCIL)}),
}


def format_enum(value: int) -> F:
    """The DXGI format a plain u32 field names (a clear BAD_ENUM error for any other value)."""
    try:
        return F(value)
    except ValueError:
        raise CommandError(ErrorCode.BAD_ENUM, f"{value} is not a DXGI format this host knows") from None


def texture_format(fmt: F, depth_stencil: bool) -> str | None:
    """The wgpu format of a texture created in `fmt` (with or without DEPTH_STENCIL binding)."""
    family = TYPELESS.get(fmt)
    if family is None:
        return TEXTURE_FORMATS.get(fmt)
    return family.depth if depth_stencil and family.depth else family.color


def view_format(texture_dxgi: F, texture_wgpu: str, view: F) -> tuple[str, str] | None:
    """(wgpu view format, aspect) of a view in format `view` of a texture, or None when D3D11
    or WebGPU does not allow that view."""
    family = TYPELESS.get(texture_dxgi)
    if family is not None:
        views = family.depth_views if texture_wgpu.startswith("depth") else family.color_views
        return views.get(view)
    if view == texture_dxgi:
        return texture_wgpu, _ALL
    twin = SRGB_TWINS.get(texture_wgpu)
    if twin is not None and TEXTURE_FORMATS.get(view) == twin:
        return twin, _ALL
    return None


def copy_compatible(a: str, b: str) -> bool:
    """Whether textures of wgpu formats `a` and `b` can be copied into each other."""
    return a.removesuffix("-srgb") == b.removesuffix("-srgb")

VERTEX_FORMATS: dict[F, str] = {
    F.R32G32B32A32_FLOAT: "float32x4",
    F.R32G32B32A32_UINT: "uint32x4",
    F.R32G32B32_FLOAT: "float32x3",
    F.R32G32_FLOAT: "float32x2",
    F.R32_FLOAT: "float32",
    F.R32_UINT: "uint32",
    F.R16G16B16A16_FLOAT: "float16x4",
    F.R16G16_FLOAT: "float16x2",
    F.R16G16B16A16_UNORM: "unorm16x4",
    F.R8G8B8A8_UNORM: "unorm8x4",
    F.R8G8B8A8_UINT: "uint8x4",
    F.R8G8_UNORM: "unorm8x2",
}

INDEX_FORMATS: dict[F, str] = {F.R16_UINT: "uint16", F.R32_UINT: "uint32"}

#: Formats whose texels are not floats when sampled (bound to uint texture slots).
UINT_FORMATS = frozenset({F.R32G32B32A32_UINT, F.R8G8B8A8_UINT, F.R32_UINT, F.R16_UINT})


def format_support(features: frozenset[str]) -> dict[F, S]:
    """What pvgpu can do with each DXGI format on a device with these wgpu features."""
    caps = dict(WGPU_CAPS)
    available = set(caps)
    for feature, (names, extra) in FEATURE_GATED.items():
        if extra is None and feature not in features:
            available -= set(names)
        elif extra is not None and feature in features:
            for name in names:
                caps[name] |= extra
    table: dict[F, S] = {}
    for fmt in F:
        bits = S(0)
        wgpu_format = texture_format(fmt, False)
        family = TYPELESS.get(fmt)
        if family is not None and family.depth in available:
            bits |= S.TEXTURE1D | S.TEXTURE2D | S.DEPTH_STENCIL | S.SHADER_LOAD | S.MULTISAMPLE_RENDERTARGET
        if wgpu_format in available:
            c = caps[wgpu_format]
            bits |= S.TEXTURE1D | S.TEXTURE2D | S.SHADER_LOAD | S.CPU_READBACK
            if not wgpu_format.startswith("depth"):
                bits |= S.TEXTURE3D
            if wgpu_format in STORAGE_FORMATS:
                bits |= S.TYPED_UNORDERED_ACCESS_VIEW
            if wgpu_format in READ_WRITE_STORAGE_FORMATS:
                bits |= S.UAV_TYPED_LOAD
            if wgpu_format.startswith("depth"):
                bits |= S.DEPTH_STENCIL
                if fmt in (F.D24_UNORM_S8_UINT, F.D32_FLOAT_S8X24_UINT):
                    bits &= ~(S.SHADER_LOAD | S.CPU_READBACK)  # depth+stencil in one copy: not offered
            if c & _R:
                bits |= S.RENDER_TARGET
            if c & _B:
                bits |= S.BLENDABLE
            if c & _F:
                bits |= S.SHADER_SAMPLE
            if c & _M:
                bits |= S.MULTISAMPLE_RENDERTARGET
            if c & _V:
                bits |= S.MULTISAMPLE_RESOLVE
            if fmt in DISPLAY_FORMATS:
                bits |= S.DISPLAY
        if fmt in VERTEX_FORMATS:
            bits |= S.VERTEX_BUFFER
        if fmt in INDEX_FORMATS:
            bits |= S.INDEX_BUFFER
        table[fmt] = bits
    return table
