"""DXGI formats in wgpu terms: texture formats, vertex formats, index formats."""

from __future__ import annotations

from ...protocol.enums import DxgiFormat as F

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
}

#: Formats a view may take instead of its resource's (same bits, other sRGB-ness).
SRGB_PAIRS: dict[F, F] = {
    F.R8G8B8A8_UNORM: F.R8G8B8A8_UNORM_SRGB,
    F.R8G8B8A8_UNORM_SRGB: F.R8G8B8A8_UNORM,
    F.B8G8R8A8_UNORM: F.B8G8R8A8_UNORM_SRGB,
    F.B8G8R8A8_UNORM_SRGB: F.B8G8R8A8_UNORM,
}

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
