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
    QUERY = 14
    TEXTURE1D = 15
    TEXTURE3D = 16
    UNORDERED_ACCESS_VIEW = 17
    COMPUTE_SHADER = 18
    GEOMETRY_SHADER = 19
    HULL_SHADER = 20
    DOMAIN_SHADER = 21


TEXTURE_KINDS = (ObjectKind.TEXTURE1D, ObjectKind.TEXTURE2D, ObjectKind.TEXTURE3D)
RESOURCE_KINDS = (ObjectKind.BUFFER, *TEXTURE_KINDS)


class QueryType(enum.IntEnum):
    """D3D11_QUERY values. Results (GetData) are: EVENT and OCCLUSION_PREDICATE a u32 bool,
    OCCLUSION and TIMESTAMP a u64, TIMESTAMP_DISJOINT a u64 frequency then a u32 bool,
    PIPELINE_STATISTICS D3D11_QUERY_DATA_PIPELINE_STATISTICS (11 u64)."""

    EVENT = 0
    OCCLUSION = 1
    TIMESTAMP = 2
    TIMESTAMP_DISJOINT = 3
    PIPELINE_STATISTICS = 4
    OCCLUSION_PREDICATE = 5


QUERY_RESULT_BYTES = {QueryType.EVENT: 4, QueryType.OCCLUSION: 8, QueryType.TIMESTAMP: 8,
                      QueryType.TIMESTAMP_DISJOINT: 16, QueryType.OCCLUSION_PREDICATE: 4,
                      QueryType.PIPELINE_STATISTICS: 88}
#: D3D11_QUERY_DATA_PIPELINE_STATISTICS, field by field.
PIPELINE_STATISTICS_FIELDS = ("ia_vertices", "ia_primitives", "vs_invocations", "gs_invocations", "gs_primitives",
                              "c_invocations", "c_primitives", "ps_invocations", "hs_invocations", "ds_invocations",
                              "cs_invocations")


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
    UNORDERED_ACCESS = 0x80


class CpuAccessFlag(enum.IntFlag):
    WRITE = 0x10000
    READ = 0x20000


class ResourceMiscFlag(enum.IntFlag):
    """D3D11_RESOURCE_MISC_FLAG values offered (others are refused as UNSUPPORTED)."""

    GENERATE_MIPS = 0x1
    SHARED = 0x2
    TEXTURECUBE = 0x4
    DRAWINDIRECT_ARGS = 0x10
    BUFFER_ALLOW_RAW_VIEWS = 0x20
    BUFFER_STRUCTURED = 0x40


class SrvDimension(enum.IntEnum):
    """D3D11_SRV_DIMENSION values (BUFFER and BUFFEREX views come from
    CREATE_BUFFER_SHADER_RESOURCE_VIEW; 2DMS views are not offered)."""

    BUFFER = 1
    TEXTURE1D = 2
    TEXTURE1DARRAY = 3
    TEXTURE2D = 4
    TEXTURE2DARRAY = 5
    TEXTURE3D = 8
    TEXTURECUBE = 9
    TEXTURECUBEARRAY = 10
    BUFFEREX = 11


class UavDimension(enum.IntEnum):
    """D3D11_UAV_DIMENSION values (BUFFER views come from CREATE_BUFFER_UNORDERED_ACCESS_VIEW)."""

    BUFFER = 1
    TEXTURE1D = 2
    TEXTURE1DARRAY = 3
    TEXTURE2D = 4
    TEXTURE2DARRAY = 5
    TEXTURE3D = 8


class BufferViewFlag(enum.IntFlag):
    """D3D11_BUFFEREX_SRV_FLAG / D3D11_BUFFER_UAV_FLAG: RAW is a byte-address view (format
    R32_TYPELESS); APPEND and COUNTER (one of them, structured buffer UAVs only) give the view a
    hidden counter (imm_atomic_alloc / imm_atomic_consume, CopyStructureCount)."""

    RAW = 0x1
    APPEND = 0x2
    COUNTER = 0x4


MAP_FLAG_DO_NOT_WAIT = 0x100000  # D3D11_MAP_FLAG_DO_NOT_WAIT


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
    COMPUTE = 2


class ShaderLanguage(enum.IntEnum):
    WGSL = 1  # UTF-8 WGSL source under pvgpu's binding convention
    DXBC = 2  # a DXBC container (fxc's output, shader model 4.0-5.0), translated by the host


class ClearFlag(enum.IntFlag):
    DEPTH = 1
    STENCIL = 2


class DsvFlag(enum.IntFlag):
    """D3D11_DSV_FLAG: a read-only aspect is tested but not written, and the texture may be
    read by shaders (a shader-resource view) while the view is bound."""

    READ_ONLY_DEPTH = 1
    READ_ONLY_STENCIL = 2


class DxgiFormat(enum.IntEnum):
    """Every DXGI_FORMAT Direct3D 11 defines (values are DXGI's; DXGI_FORMAT_420_OPAQUE is
    OPAQUE_420 here, a name may not start with a digit). UNKNOWN means "the resource's
    format" in views and "keep the current one" in RESIZE_BUFFERS. Which ones this host can
    use, and how, is in the control page's format table (see FormatSupport)."""

    UNKNOWN = 0
    R32G32B32A32_TYPELESS = 1
    R32G32B32A32_FLOAT = 2
    R32G32B32A32_UINT = 3
    R32G32B32A32_SINT = 4
    R32G32B32_TYPELESS = 5
    R32G32B32_FLOAT = 6
    R32G32B32_UINT = 7
    R32G32B32_SINT = 8
    R16G16B16A16_TYPELESS = 9
    R16G16B16A16_FLOAT = 10
    R16G16B16A16_UNORM = 11
    R16G16B16A16_UINT = 12
    R16G16B16A16_SNORM = 13
    R16G16B16A16_SINT = 14
    R32G32_TYPELESS = 15
    R32G32_FLOAT = 16
    R32G32_UINT = 17
    R32G32_SINT = 18
    R32G8X24_TYPELESS = 19
    D32_FLOAT_S8X24_UINT = 20
    R32_FLOAT_X8X24_TYPELESS = 21
    X32_TYPELESS_G8X24_UINT = 22
    R10G10B10A2_TYPELESS = 23
    R10G10B10A2_UNORM = 24
    R10G10B10A2_UINT = 25
    R11G11B10_FLOAT = 26
    R8G8B8A8_TYPELESS = 27
    R8G8B8A8_UNORM = 28
    R8G8B8A8_UNORM_SRGB = 29
    R8G8B8A8_UINT = 30
    R8G8B8A8_SNORM = 31
    R8G8B8A8_SINT = 32
    R16G16_TYPELESS = 33
    R16G16_FLOAT = 34
    R16G16_UNORM = 35
    R16G16_UINT = 36
    R16G16_SNORM = 37
    R16G16_SINT = 38
    R32_TYPELESS = 39
    D32_FLOAT = 40
    R32_FLOAT = 41
    R32_UINT = 42
    R32_SINT = 43
    R24G8_TYPELESS = 44
    D24_UNORM_S8_UINT = 45
    R24_UNORM_X8_TYPELESS = 46
    X24_TYPELESS_G8_UINT = 47
    R8G8_TYPELESS = 48
    R8G8_UNORM = 49
    R8G8_UINT = 50
    R8G8_SNORM = 51
    R8G8_SINT = 52
    R16_TYPELESS = 53
    R16_FLOAT = 54
    D16_UNORM = 55
    R16_UNORM = 56
    R16_UINT = 57
    R16_SNORM = 58
    R16_SINT = 59
    R8_TYPELESS = 60
    R8_UNORM = 61
    R8_UINT = 62
    R8_SNORM = 63
    R8_SINT = 64
    A8_UNORM = 65
    R1_UNORM = 66
    R9G9B9E5_SHAREDEXP = 67
    R8G8_B8G8_UNORM = 68
    G8R8_G8B8_UNORM = 69
    BC1_TYPELESS = 70
    BC1_UNORM = 71
    BC1_UNORM_SRGB = 72
    BC2_TYPELESS = 73
    BC2_UNORM = 74
    BC2_UNORM_SRGB = 75
    BC3_TYPELESS = 76
    BC3_UNORM = 77
    BC3_UNORM_SRGB = 78
    BC4_TYPELESS = 79
    BC4_UNORM = 80
    BC4_SNORM = 81
    BC5_TYPELESS = 82
    BC5_UNORM = 83
    BC5_SNORM = 84
    B5G6R5_UNORM = 85
    B5G5R5A1_UNORM = 86
    B8G8R8A8_UNORM = 87
    B8G8R8X8_UNORM = 88
    R10G10B10_XR_BIAS_A2_UNORM = 89
    B8G8R8A8_TYPELESS = 90
    B8G8R8A8_UNORM_SRGB = 91
    B8G8R8X8_TYPELESS = 92
    B8G8R8X8_UNORM_SRGB = 93
    BC6H_TYPELESS = 94
    BC6H_UF16 = 95
    BC6H_SF16 = 96
    BC7_TYPELESS = 97
    BC7_UNORM = 98
    BC7_UNORM_SRGB = 99
    AYUV = 100
    Y410 = 101
    Y416 = 102
    NV12 = 103
    P010 = 104
    P016 = 105
    OPAQUE_420 = 106
    YUY2 = 107
    Y210 = 108
    Y216 = 109
    NV11 = 110
    AI44 = 111
    IA44 = 112
    P8 = 113
    A8P8 = 114
    B4G4R4A4_UNORM = 115
    P208 = 130
    V208 = 131
    V408 = 132

#: Bytes per element (per 4x4 block for BC formats); formats without a plain layout (video,
#: palettized, 1-bit) are absent.
FORMAT_BYTES: dict[DxgiFormat, int] = {
    DxgiFormat.R32G32B32A32_TYPELESS: 16,
    DxgiFormat.R32G32B32A32_FLOAT: 16,
    DxgiFormat.R32G32B32A32_UINT: 16,
    DxgiFormat.R32G32B32A32_SINT: 16,
    DxgiFormat.R32G32B32_TYPELESS: 12,
    DxgiFormat.R32G32B32_FLOAT: 12,
    DxgiFormat.R32G32B32_UINT: 12,
    DxgiFormat.R32G32B32_SINT: 12,
    DxgiFormat.R16G16B16A16_TYPELESS: 8,
    DxgiFormat.R16G16B16A16_FLOAT: 8,
    DxgiFormat.R16G16B16A16_UNORM: 8,
    DxgiFormat.R16G16B16A16_UINT: 8,
    DxgiFormat.R16G16B16A16_SNORM: 8,
    DxgiFormat.R16G16B16A16_SINT: 8,
    DxgiFormat.R32G32_TYPELESS: 8,
    DxgiFormat.R32G32_FLOAT: 8,
    DxgiFormat.R32G32_UINT: 8,
    DxgiFormat.R32G32_SINT: 8,
    DxgiFormat.R32G8X24_TYPELESS: 8,
    DxgiFormat.D32_FLOAT_S8X24_UINT: 8,
    DxgiFormat.R32_FLOAT_X8X24_TYPELESS: 8,
    DxgiFormat.X32_TYPELESS_G8X24_UINT: 8,
    DxgiFormat.R10G10B10A2_TYPELESS: 4,
    DxgiFormat.R10G10B10A2_UNORM: 4,
    DxgiFormat.R10G10B10A2_UINT: 4,
    DxgiFormat.R11G11B10_FLOAT: 4,
    DxgiFormat.R8G8B8A8_TYPELESS: 4,
    DxgiFormat.R8G8B8A8_UNORM: 4,
    DxgiFormat.R8G8B8A8_UNORM_SRGB: 4,
    DxgiFormat.R8G8B8A8_UINT: 4,
    DxgiFormat.R8G8B8A8_SNORM: 4,
    DxgiFormat.R8G8B8A8_SINT: 4,
    DxgiFormat.R16G16_TYPELESS: 4,
    DxgiFormat.R16G16_FLOAT: 4,
    DxgiFormat.R16G16_UNORM: 4,
    DxgiFormat.R16G16_UINT: 4,
    DxgiFormat.R16G16_SNORM: 4,
    DxgiFormat.R16G16_SINT: 4,
    DxgiFormat.R32_TYPELESS: 4,
    DxgiFormat.D32_FLOAT: 4,
    DxgiFormat.R32_FLOAT: 4,
    DxgiFormat.R32_UINT: 4,
    DxgiFormat.R32_SINT: 4,
    DxgiFormat.R24G8_TYPELESS: 4,
    DxgiFormat.D24_UNORM_S8_UINT: 4,
    DxgiFormat.R24_UNORM_X8_TYPELESS: 4,
    DxgiFormat.X24_TYPELESS_G8_UINT: 4,
    DxgiFormat.R8G8_TYPELESS: 2,
    DxgiFormat.R8G8_UNORM: 2,
    DxgiFormat.R8G8_UINT: 2,
    DxgiFormat.R8G8_SNORM: 2,
    DxgiFormat.R8G8_SINT: 2,
    DxgiFormat.R16_TYPELESS: 2,
    DxgiFormat.R16_FLOAT: 2,
    DxgiFormat.D16_UNORM: 2,
    DxgiFormat.R16_UNORM: 2,
    DxgiFormat.R16_UINT: 2,
    DxgiFormat.R16_SNORM: 2,
    DxgiFormat.R16_SINT: 2,
    DxgiFormat.R8_TYPELESS: 1,
    DxgiFormat.R8_UNORM: 1,
    DxgiFormat.R8_UINT: 1,
    DxgiFormat.R8_SNORM: 1,
    DxgiFormat.R8_SINT: 1,
    DxgiFormat.A8_UNORM: 1,
    DxgiFormat.R9G9B9E5_SHAREDEXP: 4,
    DxgiFormat.R8G8_B8G8_UNORM: 4,
    DxgiFormat.G8R8_G8B8_UNORM: 4,
    DxgiFormat.BC1_TYPELESS: 8,
    DxgiFormat.BC1_UNORM: 8,
    DxgiFormat.BC1_UNORM_SRGB: 8,
    DxgiFormat.BC2_TYPELESS: 16,
    DxgiFormat.BC2_UNORM: 16,
    DxgiFormat.BC2_UNORM_SRGB: 16,
    DxgiFormat.BC3_TYPELESS: 16,
    DxgiFormat.BC3_UNORM: 16,
    DxgiFormat.BC3_UNORM_SRGB: 16,
    DxgiFormat.BC4_TYPELESS: 8,
    DxgiFormat.BC4_UNORM: 8,
    DxgiFormat.BC4_SNORM: 8,
    DxgiFormat.BC5_TYPELESS: 16,
    DxgiFormat.BC5_UNORM: 16,
    DxgiFormat.BC5_SNORM: 16,
    DxgiFormat.B5G6R5_UNORM: 2,
    DxgiFormat.B5G5R5A1_UNORM: 2,
    DxgiFormat.B8G8R8A8_UNORM: 4,
    DxgiFormat.B8G8R8X8_UNORM: 4,
    DxgiFormat.R10G10B10_XR_BIAS_A2_UNORM: 4,
    DxgiFormat.B8G8R8A8_TYPELESS: 4,
    DxgiFormat.B8G8R8A8_UNORM_SRGB: 4,
    DxgiFormat.B8G8R8X8_TYPELESS: 4,
    DxgiFormat.B8G8R8X8_UNORM_SRGB: 4,
    DxgiFormat.BC6H_TYPELESS: 16,
    DxgiFormat.BC6H_UF16: 16,
    DxgiFormat.BC6H_SF16: 16,
    DxgiFormat.BC7_TYPELESS: 16,
    DxgiFormat.BC7_UNORM: 16,
    DxgiFormat.BC7_UNORM_SRGB: 16,
    DxgiFormat.P8: 1,
    DxgiFormat.A8P8: 2,
    DxgiFormat.B4G4R4A4_UNORM: 2,
}
BLOCK_COMPRESSED = frozenset(f for f in DxgiFormat if f.name.startswith("BC"))

DEPTH_FORMATS = frozenset({DxgiFormat.D32_FLOAT, DxgiFormat.D24_UNORM_S8_UINT, DxgiFormat.D16_UNORM,
                           DxgiFormat.D32_FLOAT_S8X24_UINT})
STENCIL_FORMATS = frozenset({DxgiFormat.D24_UNORM_S8_UINT, DxgiFormat.D32_FLOAT_S8X24_UINT})


class FormatSupport(enum.IntFlag):
    """What this host can do with a DXGI format (the control page's format table, one u16 per
    DXGI_FORMAT value; D3D11's CheckFormatSupport in a compact form)."""

    TEXTURE2D = 1 << 0  # a Texture2D can have this format
    SHADER_LOAD = 1 << 1  # shaders can read it (textureLoad)
    SHADER_SAMPLE = 1 << 2  # shaders can sample it with filtering
    RENDER_TARGET = 1 << 3
    BLENDABLE = 1 << 4
    DEPTH_STENCIL = 1 << 5
    VERTEX_BUFFER = 1 << 6  # an input-layout element format
    INDEX_BUFFER = 1 << 7
    DISPLAY = 1 << 8  # a swap chain's back buffer
    CPU_READBACK = 1 << 9  # Map(READ) of a staging texture
    MULTISAMPLE_RENDERTARGET = 1 << 10  # 4x MSAA render targets (or depth-stencil)
    MULTISAMPLE_RESOLVE = 1 << 11  # ResolveSubresource from 4x MSAA
    TYPED_UNORDERED_ACCESS_VIEW = 1 << 12  # a texture UAV of this format (typed store)
    UAV_TYPED_LOAD = 1 << 13  # ... that shaders may also read (read_write storage)
    TEXTURE1D = 1 << 14  # a Texture1D can have this format
    TEXTURE3D = 1 << 15  # a Texture3D can have this format


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
    TIMESTAMP_QUERIES = 1 << 7
    COMPUTE_SHADERS = 1 << 8  # compute shaders, UAVs, structured and raw buffers
    TEXTURE1D = 1 << 9  # emulated as 2D textures of height 1 (see the binding convention)
    TEXTURE3D = 1 << 10
    SHARED_RESOURCES = 1 << 11  # RESOURCE_MISC_SHARED textures opened by another guest process
    PREDICATION = 1 << 12  # SetPredication, decided on the host when it is set
    PIPELINE_STATISTICS_QUERIES = 1 << 13
