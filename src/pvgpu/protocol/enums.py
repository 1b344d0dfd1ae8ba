"""Enumerations of the protocol. Values are Direct3D 11's and DXGI's where they exist, so a
D3D11 driver passes its values through unchanged."""

from __future__ import annotations

import enum


class ObjectKind(enum.IntEnum):
    BUFFER = 1
    TEXTURE2D = 2
    RENDER_TARGET_VIEW = 3
    DEPTH_STENCIL_VIEW = 4
    SHADER_RESOURCE_VIEW = 5
    BLEND_STATE = 6
    RASTERIZER_STATE = 7
    DEPTH_STENCIL_STATE = 8
    SAMPLER_STATE = 9
    INPUT_LAYOUT = 10
    VERTEX_SHADER = 11
    PIXEL_SHADER = 12
    SWAP_CHAIN = 13


RESOURCE_KINDS = (ObjectKind.BUFFER, ObjectKind.TEXTURE2D)


class Usage(enum.IntEnum):
    DEFAULT = 0
    IMMUTABLE = 1
    DYNAMIC = 2
    STAGING = 3


class BindFlag(enum.IntFlag):
    VERTEX_BUFFER = 0x1
    INDEX_BUFFER = 0x2
    CONSTANT_BUFFER = 0x4
    SHADER_RESOURCE = 0x8
    RENDER_TARGET = 0x20
    DEPTH_STENCIL = 0x40


class CpuAccessFlag(enum.IntFlag):
    WRITE = 0x10000
    READ = 0x20000


class ResourceMiscFlag(enum.IntFlag):
    """No misc flags are offered yet (mip generation, sharing and cubes come later)."""


class MapType(enum.IntEnum):
    READ = 1
    WRITE = 2
    READ_WRITE = 3
    WRITE_DISCARD = 4
    WRITE_NO_OVERWRITE = 5


class PrimitiveTopology(enum.IntEnum):
    POINTLIST = 1
    LINELIST = 2
    LINESTRIP = 3
    TRIANGLELIST = 4
    TRIANGLESTRIP = 5


class Blend(enum.IntEnum):
    ZERO = 1
    ONE = 2
    SRC_COLOR = 3
    INV_SRC_COLOR = 4
    SRC_ALPHA = 5
    INV_SRC_ALPHA = 6
    DEST_ALPHA = 7
    INV_DEST_ALPHA = 8
    DEST_COLOR = 9
    INV_DEST_COLOR = 10
    SRC_ALPHA_SAT = 11
    BLEND_FACTOR = 14
    INV_BLEND_FACTOR = 15


class BlendOp(enum.IntEnum):
    ADD = 1
    SUBTRACT = 2
    REV_SUBTRACT = 3
    MIN = 4
    MAX = 5


class ColorWriteFlag(enum.IntFlag):
    RED = 1
    GREEN = 2
    BLUE = 4
    ALPHA = 8


class FillMode(enum.IntEnum):
    WIREFRAME = 2
    SOLID = 3


class CullMode(enum.IntEnum):
    NONE = 1
    FRONT = 2
    BACK = 3


class ComparisonFunc(enum.IntEnum):
    NEVER = 1
    LESS = 2
    EQUAL = 3
    LESS_EQUAL = 4
    GREATER = 5
    NOT_EQUAL = 6
    GREATER_EQUAL = 7
    ALWAYS = 8


class DepthWriteMask(enum.IntEnum):
    ZERO = 0
    ALL = 1


class StencilOp(enum.IntEnum):
    KEEP = 1
    ZERO = 2
    REPLACE = 3
    INCR_SAT = 4
    DECR_SAT = 5
    INVERT = 6
    INCR = 7
    DECR = 8


class Filter(enum.IntEnum):
    """D3D11_FILTER: bit 0 mip linear, bit 2 mag linear, bit 4 min linear, 0x40 anisotropic,
    0x80 comparison."""

    MIN_MAG_MIP_POINT = 0x00
    MIN_MAG_POINT_MIP_LINEAR = 0x01
    MIN_POINT_MAG_LINEAR_MIP_POINT = 0x04
    MIN_POINT_MAG_MIP_LINEAR = 0x05
    MIN_LINEAR_MAG_MIP_POINT = 0x10
    MIN_LINEAR_MAG_POINT_MIP_LINEAR = 0x11
    MIN_MAG_LINEAR_MIP_POINT = 0x14
    MIN_MAG_MIP_LINEAR = 0x15
    ANISOTROPIC = 0x55
    COMPARISON_MIN_MAG_MIP_POINT = 0x80
    COMPARISON_MIN_MAG_POINT_MIP_LINEAR = 0x81
    COMPARISON_MIN_POINT_MAG_LINEAR_MIP_POINT = 0x84
    COMPARISON_MIN_POINT_MAG_MIP_LINEAR = 0x85
    COMPARISON_MIN_LINEAR_MAG_MIP_POINT = 0x90
    COMPARISON_MIN_LINEAR_MAG_POINT_MIP_LINEAR = 0x91
    COMPARISON_MIN_MAG_LINEAR_MIP_POINT = 0x94
    COMPARISON_MIN_MAG_MIP_LINEAR = 0x95
    COMPARISON_ANISOTROPIC = 0xD5


class TextureAddressMode(enum.IntEnum):
    WRAP = 1
    MIRROR = 2
    CLAMP = 3
    BORDER = 4
    MIRROR_ONCE = 5


class InputClassification(enum.IntEnum):
    PER_VERTEX_DATA = 0
    PER_INSTANCE_DATA = 1


class ShaderStage(enum.IntEnum):
    """Also the WGSL @group of the stage's resources (see the binding convention)."""

    VERTEX = 0
    PIXEL = 1


class ShaderLanguage(enum.IntEnum):
    WGSL = 1


class ClearFlag(enum.IntFlag):
    DEPTH = 1
    STENCIL = 2


class DxgiFormat(enum.IntEnum):
    """The DXGI formats this protocol version knows (values are DXGI_FORMAT's). UNKNOWN means
    "the resource's format" in views and "keep the current one" in RESIZE_BUFFERS."""

    UNKNOWN = 0
    R32G32B32A32_FLOAT = 2
    R32G32B32A32_UINT = 3
    R32G32B32_FLOAT = 6
    R16G16B16A16_FLOAT = 10
    R16G16B16A16_UNORM = 11
    R32G32_FLOAT = 16
    R10G10B10A2_UNORM = 24
    R11G11B10_FLOAT = 26
    R8G8B8A8_UNORM = 28
    R8G8B8A8_UNORM_SRGB = 29
    R8G8B8A8_UINT = 30
    R16G16_FLOAT = 34
    D32_FLOAT = 40
    R32_FLOAT = 41
    R32_UINT = 42
    D24_UNORM_S8_UINT = 45
    R8G8_UNORM = 49
    R16_FLOAT = 54
    D16_UNORM = 55
    R16_UINT = 57
    R8_UNORM = 61
    B8G8R8A8_UNORM = 87
    B8G8R8A8_UNORM_SRGB = 91


#: Bytes per element of each format (texel for textures, vertex attribute for buffers).
FORMAT_BYTES: dict[DxgiFormat, int] = {
    DxgiFormat.R32G32B32A32_FLOAT: 16,
    DxgiFormat.R32G32B32A32_UINT: 16,
    DxgiFormat.R32G32B32_FLOAT: 12,
    DxgiFormat.R16G16B16A16_FLOAT: 8,
    DxgiFormat.R16G16B16A16_UNORM: 8,
    DxgiFormat.R32G32_FLOAT: 8,
    DxgiFormat.R10G10B10A2_UNORM: 4,
    DxgiFormat.R11G11B10_FLOAT: 4,
    DxgiFormat.R8G8B8A8_UNORM: 4,
    DxgiFormat.R8G8B8A8_UNORM_SRGB: 4,
    DxgiFormat.R8G8B8A8_UINT: 4,
    DxgiFormat.R16G16_FLOAT: 4,
    DxgiFormat.D32_FLOAT: 4,
    DxgiFormat.R32_FLOAT: 4,
    DxgiFormat.R32_UINT: 4,
    DxgiFormat.D24_UNORM_S8_UINT: 4,
    DxgiFormat.R8G8_UNORM: 2,
    DxgiFormat.R16_FLOAT: 2,
    DxgiFormat.D16_UNORM: 2,
    DxgiFormat.R16_UINT: 2,
    DxgiFormat.R8_UNORM: 1,
    DxgiFormat.B8G8R8A8_UNORM: 4,
    DxgiFormat.B8G8R8A8_UNORM_SRGB: 4,
}

DEPTH_FORMATS = frozenset({DxgiFormat.D32_FLOAT, DxgiFormat.D24_UNORM_S8_UINT, DxgiFormat.D16_UNORM})
STENCIL_FORMATS = frozenset({DxgiFormat.D24_UNORM_S8_UINT})


class ErrorCode(enum.IntEnum):
    """Codes in the control page's error log."""

    UNKNOWN_OPCODE = 1
    TRUNCATED_RECORD = 2
    SIZE_MISMATCH = 3
    HEAP_RANGE = 4
    WRONG_KIND = 5
    DEAD_ID = 6
    BAD_ENUM = 7
    COUNT_LIMIT = 8
    ID_IN_USE = 9
    QUOTA = 10
    INVALID_CALL = 11
    UNSUPPORTED = 12
    HOST_GPU_ERROR = 13
    BAD_FRAMING = 14
    VERSION = 15
    DEVICE_LOST = 16


class DeviceStatus(enum.IntEnum):
    INITIALIZING = 0
    READY = 1
    REFUSED = 2
    LOST = 3


class GuestState(enum.IntEnum):
    NONE = 0
    HELLO = 1
    RESET = 2  # a new guest program asks for a fresh session on a region used before (VMs)


class Feature(enum.IntFlag):
    """Feature bits offered by the host and accepted for a guest."""

    WGSL_SHADERS = 1 << 0
    TEXTURE2D = 1 << 1
    HEADLESS_PRESENT = 1 << 2
    INSTANCING = 1 << 3
    ANISOTROPIC_FILTERING = 1 << 4
    FILL_WIREFRAME = 1 << 5
    DEPTH_CLIP_CONTROL = 1 << 6
