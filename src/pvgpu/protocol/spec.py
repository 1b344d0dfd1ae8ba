"""The protocol spec: every command, its opcode, fields and array element type.

This is the single source of truth. Python encoders and decoders (`codec`), the C header
(`cheader`) and the protocol reference page (`docpage`) are derived from it. Adding a
command means adding one `Command` entry here and one executor method on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import (
    Blend, BlendOp, BindFlag, ClearFlag, ColorWriteFlag, ComparisonFunc, CpuAccessFlag,
    CullMode, DepthWriteMask, DsvFlag, DxgiFormat, Feature, FillMode, Filter, InputClassification, ObjectKind,
    PrimitiveTopology, QueryType, ResourceMiscFlag, ShaderLanguage, ShaderStage, SrvDimension, StencilOp,
    TextureAddressMode, UavDimension, Usage, BufferViewFlag, RESOURCE_KINDS, TEXTURE_KINDS,
)
from .types import (
    Field, Meaning, StructSpec, boolean, count, enum_field, f32, flags_field, heap_range, i32, new_obj,
    obj, u32, u64,
)

PROTOCOL_MAJOR = 3
PROTOCOL_MINOR = 2

K = ObjectKind

MAX_RENDER_TARGETS = 8
MAX_VIEWPORTS = 16
MAX_VERTEX_BUFFERS = 32
MAX_CONSTANT_BUFFERS = 14
MAX_SHADER_RESOURCES = 128
MAX_SAMPLERS = 16
MAX_INPUT_ELEMENTS = 32
MAX_UNORDERED_ACCESS_VIEWS = 8  # D3D11_PS_CS_UAV_REGISTER_COUNT
MAX_DISPATCH_GROUPS = 65535  # D3D11_CS_DISPATCH_MAX_THREAD_GROUPS_PER_DIMENSION
APPEND_ALIGNED_ELEMENT = 0xFFFFFFFF


@dataclass(frozen=True)
class Command:
    opcode: int
    name: str
    fields: tuple[Field, ...]
    doc: str
    array: StructSpec | None = None  # trailing array; its length is the COUNT field
    predicated: bool = False  # skipped while SetPredication's predicate holds (D3D11's rendering commands)
    feature: Feature | None = None  # the command is refused (UNSUPPORTED) unless the session accepted it


def _fields(*items) -> tuple[Field, ...]:
    out: list[Field] = []
    for item in items:
        out.extend(item if isinstance(item, tuple) else (item,))
    return tuple(out)


def command(opcode: int, name: str, doc: str, *fields, array: StructSpec | None = None,
            predicated: bool = False, feature: Feature | None = None) -> Command:
    return Command(opcode, name, _fields(*fields), doc, array, predicated, feature)


def _rgba(prefix: str) -> tuple[Field, ...]:
    return tuple(f32(f"{prefix}_{c}") for c in "rgba")


RENDER_TARGET_BLEND = StructSpec("RenderTargetBlend", _fields(
    boolean("blend_enable"),
    enum_field("src_blend", Blend), enum_field("dest_blend", Blend), enum_field("blend_op", BlendOp),
    enum_field("src_blend_alpha", Blend), enum_field("dest_blend_alpha", Blend),
    enum_field("blend_op_alpha", BlendOp),
    flags_field("write_mask", ColorWriteFlag),
), "D3D11_RENDER_TARGET_BLEND_DESC")

INPUT_ELEMENT = StructSpec("InputElement", _fields(
    u32("semantic_index", "matched with the name (CREATE_INPUT_LAYOUT's semantic_names) against a DXBC "
        "vertex shader's input signature"),
    enum_field("format", DxgiFormat),
    u32("input_slot"),
    u32("aligned_byte_offset", "0xFFFFFFFF: right after the previous element"),
    enum_field("input_slot_class", InputClassification),
    u32("instance_data_step_rate", "0 for per-vertex data, 1 for per-instance data"),
), "D3D11_INPUT_ELEMENT_DESC; the semantic names travel in CREATE_INPUT_LAYOUT's `semantic_names` range")

VIEWPORT = StructSpec("Viewport", _fields(
    f32("top_left_x"), f32("top_left_y"), f32("width"), f32("height"), f32("min_depth"), f32("max_depth"),
), "D3D11_VIEWPORT")

RECT = StructSpec("Rect", _fields(i32("left"), i32("top"), i32("right"), i32("bottom")), "D3D11_RECT")

VERTEX_BUFFER_BINDING = StructSpec("VertexBufferBinding", _fields(
    obj("buffer", K.BUFFER, optional=True), u32("stride"), u32("offset"),
))

RTV_SLOT = StructSpec("RenderTargetSlot", _fields(obj("view", K.RENDER_TARGET_VIEW, optional=True)))
CB_SLOT = StructSpec("ConstantBufferSlot", _fields(obj("buffer", K.BUFFER, optional=True)))
SRV_SLOT = StructSpec("ShaderResourceSlot", _fields(obj("view", K.SHADER_RESOURCE_VIEW, optional=True)))
SAMPLER_SLOT = StructSpec("SamplerSlot", _fields(obj("sampler", K.SAMPLER_STATE, optional=True)))
UAV_SLOT = StructSpec("UnorderedAccessSlot", _fields(
    obj("view", K.UNORDERED_ACCESS_VIEW, optional=True),
    u32("initial_count", "the hidden counter's new value for a view created with APPEND or COUNTER; "
        "0xFFFFFFFF keeps the current value; ignored for other views"),
))

SHARED_TEXTURE_DESC = StructSpec("SharedTextureDesc", _fields(
    u32("width"), u32("height"), enum_field("format", DxgiFormat), flags_field("bind_flags", BindFlag),
    flags_field("misc_flags", ResourceMiscFlag),
), "what the host writes into OPEN_SHARED_RESOURCE's `desc` range")

STRUCTS = (RENDER_TARGET_BLEND, INPUT_ELEMENT, VIEWPORT, RECT, VERTEX_BUFFER_BINDING, RTV_SLOT,
           CB_SLOT, SRV_SLOT, SAMPLER_SLOT, UAV_SLOT, SHARED_TEXTURE_DESC)


def _stencil_face(prefix: str) -> tuple[Field, ...]:
    return (
        enum_field(f"{prefix}_fail_op", StencilOp),
        enum_field(f"{prefix}_depth_fail_op", StencilOp),
        enum_field(f"{prefix}_pass_op", StencilOp),
        enum_field(f"{prefix}_func", ComparisonFunc),
    )


COMMANDS: tuple[Command, ...] = (
    command(0, "PAD", "Fills the ring's tail so that no record wraps; the host skips it."),
    # --- resources -------------------------------------------------------------------------
    command(1, "CREATE_BUFFER", "ID3D11Device::CreateBuffer. Initial data, if any, is read from the heap.",
            new_obj("buffer", K.BUFFER), u32("byte_width"), enum_field("usage", Usage),
            flags_field("bind_flags", BindFlag), flags_field("cpu_access_flags", CpuAccessFlag),
            flags_field("misc_flags", ResourceMiscFlag), u32("structure_byte_stride"),
            heap_range("initial_data")),
    command(2, "CREATE_TEXTURE2D",
            "ID3D11Device::CreateTexture2D. Initial data holds every subresource in D3D11's order "
            "(array slice by slice, mip 0 first within a slice), each with tightly packed rows. "
            "Subresource index = mip + slice * mip_levels.",
            new_obj("texture", K.TEXTURE2D), u32("width"), u32("height"), u32("mip_levels"),
            u32("array_size"), enum_field("format", DxgiFormat), u32("sample_count"),
            u32("sample_quality"), enum_field("usage", Usage), flags_field("bind_flags", BindFlag),
            flags_field("cpu_access_flags", CpuAccessFlag), flags_field("misc_flags", ResourceMiscFlag),
            heap_range("initial_data"), feature=Feature.TEXTURE2D),
    command(3, "DESTROY_OBJECT",
            "Releases an object of any kind; its id may be reused afterwards. A swap chain takes its back "
            "buffer with it (that id is free too); the back buffer alone is refused (INVALID_CALL). Views keep "
            "their resource usable, as in D3D11, but a freed id names no object (DEAD_ID).",
            obj("object", *K)),
    command(4, "UPDATE_SUBRESOURCE",
            "ID3D11DeviceContext::UpdateSubresource. With has_box=0 the whole subresource is written.",
            obj("resource", *RESOURCE_KINDS), u32("subresource"), boolean("has_box"),
            u32("box_left"), u32("box_top"), u32("box_front"), u32("box_right"), u32("box_bottom"),
            u32("box_back"), u32("src_row_pitch"), u32("src_depth_pitch"), heap_range("src"), predicated=True),
    command(5, "COPY_RESOURCE", "ID3D11DeviceContext::CopyResource.",
            obj("dst", *RESOURCE_KINDS), obj("src", *RESOURCE_KINDS), predicated=True),
    # --- views and states ----------------------------------------------------------------
    command(6, "CREATE_RENDER_TARGET_VIEW",
            "ID3D11Device::CreateRenderTargetView (format 0: the resource's) of one mip and one array slice.",
            new_obj("view", K.RENDER_TARGET_VIEW), obj("resource", K.TEXTURE1D, K.TEXTURE2D, K.TEXTURE3D),
            u32("format"),
            u32("mip_slice"), u32("array_slice")),
    command(7, "CREATE_DEPTH_STENCIL_VIEW",
            "ID3D11Device::CreateDepthStencilView (format 0: the resource's) of one mip and one array slice.",
            new_obj("view", K.DEPTH_STENCIL_VIEW), obj("resource", K.TEXTURE1D, K.TEXTURE2D), u32("format"),
            u32("mip_slice"), u32("array_slice"), flags_field("flags", DsvFlag)),
    command(8, "CREATE_SHADER_RESOURCE_VIEW",
            "ID3D11Device::CreateShaderResourceView (format 0: the resource's; mip_levels "
            "0xFFFFFFFF: all from most_detailed_mip; array_size counts 2D slices, 6 per cube; a 3D "
            "view has first_array_slice 0 and array_size 1). Buffer views: CREATE_BUFFER_SHADER_RESOURCE_VIEW.",
            new_obj("view", K.SHADER_RESOURCE_VIEW), obj("resource", *TEXTURE_KINDS), u32("format"),
            enum_field("view_dimension", SrvDimension), u32("most_detailed_mip"), u32("mip_levels"),
            u32("first_array_slice"), u32("array_size")),
    command(9, "CREATE_BLEND_STATE", "ID3D11Device::CreateBlendState; one element per render target.",
            new_obj("state", K.BLEND_STATE), boolean("alpha_to_coverage_enable"),
            boolean("independent_blend_enable"), count("render_target_count", MAX_RENDER_TARGETS),
            array=RENDER_TARGET_BLEND),
    command(10, "CREATE_RASTERIZER_STATE", "ID3D11Device::CreateRasterizerState.",
            new_obj("state", K.RASTERIZER_STATE), enum_field("fill_mode", FillMode),
            enum_field("cull_mode", CullMode), boolean("front_counter_clockwise"), i32("depth_bias"),
            f32("depth_bias_clamp"), f32("slope_scaled_depth_bias"), boolean("depth_clip_enable"),
            boolean("scissor_enable"), boolean("multisample_enable"), boolean("antialiased_line_enable")),
    command(11, "CREATE_DEPTH_STENCIL_STATE", "ID3D11Device::CreateDepthStencilState.",
            new_obj("state", K.DEPTH_STENCIL_STATE), boolean("depth_enable"),
            enum_field("depth_write_mask", DepthWriteMask), enum_field("depth_func", ComparisonFunc),
            boolean("stencil_enable"), u32("stencil_read_mask"), u32("stencil_write_mask"),
            _stencil_face("front"), _stencil_face("back")),
    command(12, "CREATE_SAMPLER_STATE", "ID3D11Device::CreateSamplerState.",
            new_obj("sampler", K.SAMPLER_STATE), enum_field("filter", Filter),
            enum_field("address_u", TextureAddressMode), enum_field("address_v", TextureAddressMode),
            enum_field("address_w", TextureAddressMode), f32("mip_lod_bias"), u32("max_anisotropy"),
            enum_field("comparison_func", ComparisonFunc), _rgba("border_color"), f32("min_lod"),
            f32("max_lod")),
    command(13, "CREATE_INPUT_LAYOUT",
            "ID3D11Device::CreateInputLayout. `semantic_names`: element i's name is the i-th NUL-terminated ASCII "
            "string (at most 63 characters). `shader_bytecode`: the DXBC vertex shader the layout is made for; "
            "its input signature is matched by semantic name (case-insensitive) and index, each element feeding "
            "the matching signature element's @location (its position in the signature); a signature element "
            "no layout element matches is refused, extra layout elements are allowed. Without bytecode (a WGSL "
            "vertex shader), element i feeds @location(i).",
            new_obj("layout", K.INPUT_LAYOUT), count("element_count", MAX_INPUT_ELEMENTS),
            heap_range("semantic_names"), heap_range("shader_bytecode"), array=INPUT_ELEMENT),
    command(14, "CREATE_VERTEX_SHADER", "ID3D11Device::CreateVertexShader; the code is read from the heap.",
            new_obj("shader", K.VERTEX_SHADER), enum_field("language", ShaderLanguage), heap_range("code")),
    command(15, "CREATE_PIXEL_SHADER", "ID3D11Device::CreatePixelShader; the code is read from the heap.",
            new_obj("shader", K.PIXEL_SHADER), enum_field("language", ShaderLanguage), heap_range("code")),
    # --- pipeline state ----------------------------------------------------------------------
    command(16, "SET_RENDER_TARGETS", "ID3D11DeviceContext::OMSetRenderTargets.",
            obj("depth_stencil_view", K.DEPTH_STENCIL_VIEW, optional=True),
            count("view_count", MAX_RENDER_TARGETS), array=RTV_SLOT),
    command(17, "SET_VIEWPORTS", "ID3D11DeviceContext::RSSetViewports.",
            count("viewport_count", MAX_VIEWPORTS), array=VIEWPORT),
    command(18, "SET_SCISSOR_RECTS", "ID3D11DeviceContext::RSSetScissorRects.",
            count("rect_count", MAX_VIEWPORTS), array=RECT),
    command(19, "SET_VERTEX_BUFFERS", "ID3D11DeviceContext::IASetVertexBuffers.",
            u32("start_slot"), count("buffer_count", MAX_VERTEX_BUFFERS), array=VERTEX_BUFFER_BINDING),
    command(20, "SET_INDEX_BUFFER", "ID3D11DeviceContext::IASetIndexBuffer (R16_UINT or R32_UINT).",
            obj("buffer", K.BUFFER, optional=True), enum_field("format", DxgiFormat), u32("offset")),
    command(21, "SET_PRIMITIVE_TOPOLOGY", "ID3D11DeviceContext::IASetPrimitiveTopology.",
            enum_field("topology", PrimitiveTopology)),
    command(22, "SET_INPUT_LAYOUT", "ID3D11DeviceContext::IASetInputLayout.",
            obj("layout", K.INPUT_LAYOUT, optional=True)),
    command(23, "SET_VERTEX_SHADER", "ID3D11DeviceContext::VSSetShader.",
            obj("shader", K.VERTEX_SHADER, optional=True)),
    command(24, "SET_PIXEL_SHADER", "ID3D11DeviceContext::PSSetShader.",
            obj("shader", K.PIXEL_SHADER, optional=True)),
    command(25, "SET_CONSTANT_BUFFERS", "VSSetConstantBuffers / PSSetConstantBuffers.",
            enum_field("stage", ShaderStage), u32("start_slot"),
            count("buffer_count", MAX_CONSTANT_BUFFERS), array=CB_SLOT),
    command(26, "SET_SHADER_RESOURCES", "VSSetShaderResources / PSSetShaderResources.",
            enum_field("stage", ShaderStage), u32("start_slot"),
            count("view_count", MAX_SHADER_RESOURCES), array=SRV_SLOT),
    command(27, "SET_SAMPLERS", "VSSetSamplers / PSSetSamplers.",
            enum_field("stage", ShaderStage), u32("start_slot"),
            count("sampler_count", MAX_SAMPLERS), array=SAMPLER_SLOT),
    command(28, "SET_BLEND_STATE", "ID3D11DeviceContext::OMSetBlendState.",
            obj("state", K.BLEND_STATE, optional=True), _rgba("blend_factor"), u32("sample_mask")),
    command(29, "SET_RASTERIZER_STATE", "ID3D11DeviceContext::RSSetState.",
            obj("state", K.RASTERIZER_STATE, optional=True)),
    command(30, "SET_DEPTH_STENCIL_STATE", "ID3D11DeviceContext::OMSetDepthStencilState.",
            obj("state", K.DEPTH_STENCIL_STATE, optional=True), u32("stencil_ref")),
    # --- draws and clears ----------------------------------------------------------------------
    command(31, "DRAW", "ID3D11DeviceContext::Draw.", u32("vertex_count"), u32("start_vertex_location"), predicated=True),
    command(32, "DRAW_INDEXED", "ID3D11DeviceContext::DrawIndexed.",
            u32("index_count"), u32("start_index_location"), i32("base_vertex_location"), predicated=True),
    command(33, "DRAW_INSTANCED", "ID3D11DeviceContext::DrawInstanced.",
            u32("vertex_count_per_instance"), u32("instance_count"), u32("start_vertex_location"),
            u32("start_instance_location"), predicated=True, feature=Feature.INSTANCING),
    command(34, "DRAW_INDEXED_INSTANCED", "ID3D11DeviceContext::DrawIndexedInstanced.",
            u32("index_count_per_instance"), u32("instance_count"), u32("start_index_location"),
            i32("base_vertex_location"), u32("start_instance_location"), predicated=True, feature=Feature.INSTANCING),
    command(35, "CLEAR_RENDER_TARGET_VIEW", "ID3D11DeviceContext::ClearRenderTargetView.",
            obj("view", K.RENDER_TARGET_VIEW), _rgba("color"), predicated=True),
    command(36, "CLEAR_DEPTH_STENCIL_VIEW", "ID3D11DeviceContext::ClearDepthStencilView.",
            obj("view", K.DEPTH_STENCIL_VIEW), flags_field("clear_flags", ClearFlag), f32("depth"),
            u32("stencil"), predicated=True),
    # --- CPU access, sync and presentation ------------------------------------------------------
    command(37, "MAP_READ",
            "First half of Map(READ): the host copies the subresource into the heap range with the "
            "given pitches; the guest waits for a following FENCE before reading it.",
            obj("resource", *RESOURCE_KINDS), u32("subresource"), u32("dst_row_pitch"),
            u32("dst_depth_pitch"), heap_range("dst")),
    command(38, "MAP_WRITE_DISCARD",
            "Unmap of a Map(WRITE_DISCARD): the host replaces the subresource's contents with the "
            "heap range the guest wrote.",
            obj("resource", *RESOURCE_KINDS), u32("subresource"), u32("src_row_pitch"), heap_range("src")),
    command(39, "FENCE",
            "Asks the host to write `value` to the control page once the GPU has finished all "
            "earlier work and the frames presented before it have been handed to the host's "
            "presenters, then interrupt the guest. The host may go on with later commands "
            "meanwhile; fences complete in order.", u64("value")),
    command(40, "FLUSH", "ID3D11DeviceContext::Flush: submit recorded work to the GPU."),
    command(41, "CREATE_SWAP_CHAIN",
            "IDXGIFactory::CreateSwapChain; `buffer` is the id the guest gives the back buffer texture, which "
            "the swap chain owns: it lives as long as the swap chain and is freed with it.",
            new_obj("swap_chain", K.SWAP_CHAIN), new_obj("buffer", K.TEXTURE2D), u32("width"),
            u32("height"), enum_field("format", DxgiFormat), u32("buffer_count")),
    command(42, "PRESENT",
            "IDXGISwapChain::Present: hand the back buffer to the host's presenters. The host paces it to a "
            "virtual vblank clock at the display mode's refresh rate: sync_interval 0 shows it at once, N shows "
            "it at the Nth vblank after the previous shown frame's (a late frame at the next one); the host "
            "then updates the frame statistics in the control page.",
            obj("swap_chain", K.SWAP_CHAIN), u32("sync_interval", "0..4: vblanks to wait (0: not paced)"),
            u32("flags")),
    command(43, "RESIZE_BUFFERS",
            "IDXGISwapChain::ResizeBuffers; no view of the back buffer may be alive. The back buffer keeps its id.",
            obj("swap_chain", K.SWAP_CHAIN), u32("buffer_count"), u32("width"), u32("height"),
            enum_field("format", DxgiFormat)),
    command(47, "DRAW_INSTANCED_INDIRECT",
            "ID3D11DeviceContext::DrawInstancedIndirect: the four draw arguments are read by the GPU "
            "from `args` (a buffer with RESOURCE_MISC_DRAWINDIRECT_ARGS) at `aligned_byte_offset`.",
            obj("args", K.BUFFER), u32("aligned_byte_offset"), predicated=True, feature=Feature.INSTANCING),
    command(48, "DRAW_INDEXED_INSTANCED_INDIRECT",
            "ID3D11DeviceContext::DrawIndexedInstancedIndirect: five arguments read by the GPU from `args`.",
            obj("args", K.BUFFER), u32("aligned_byte_offset"), predicated=True, feature=Feature.INSTANCING),
    command(49, "RESOLVE_SUBRESOURCE",
            "ID3D11DeviceContext::ResolveSubresource: average a multisampled subresource into a "
            "single-sampled one of the same size and format.",
            obj("dst", K.TEXTURE2D), u32("dst_subresource"), obj("src", K.TEXTURE2D), u32("src_subresource"),
            enum_field("format", DxgiFormat), predicated=True),
    command(50, "CREATE_QUERY", "ID3D11Device::CreateQuery.", new_obj("query", K.QUERY),
            enum_field("type", QueryType)),
    command(51, "BEGIN_QUERY", "ID3D11DeviceContext::Begin (occlusion, occlusion predicate, timestamp disjoint).",
            obj("query", K.QUERY)),
    command(52, "END_QUERY",
            "ID3D11DeviceContext::End: the host writes the query's result into `result` by the time a "
            "following FENCE completes (GetData polls that fence).",
            obj("query", K.QUERY), heap_range("result")),
    command(46, "GENERATE_MIPS",
            "ID3D11DeviceContext::GenerateMips: fill the view's lower mips from its most detailed one "
            "(the texture needs RESOURCE_MISC_GENERATE_MIPS, RENDER_TARGET and SHADER_RESOURCE).",
            obj("view", K.SHADER_RESOURCE_VIEW), predicated=True),
    command(45, "MAP_WRITE_NO_OVERWRITE",
            "Unmap of a Map(WRITE_NO_OVERWRITE) of a DYNAMIC buffer: the bytes are written in place "
            "(the guest promised that work in flight does not read them).",
            obj("resource", K.BUFFER), u32("dst_offset"), heap_range("src")),
    command(44, "COPY_SUBRESOURCE_REGION",
            "ID3D11DeviceContext::CopySubresourceRegion. With has_box=0 the whole source subresource "
            "is copied; for buffers the box's left/right are byte offsets and dst_x the destination offset.",
            obj("dst", *RESOURCE_KINDS), u32("dst_subresource"), u32("dst_x"), u32("dst_y"), u32("dst_z"),
            obj("src", *RESOURCE_KINDS), u32("src_subresource"), boolean("has_box"),
            u32("box_left"), u32("box_top"), u32("box_front"), u32("box_right"), u32("box_bottom"),
            u32("box_back"), predicated=True),
    command(53, "CREATE_TEXTURE1D",
            "ID3D11Device::CreateTexture1D. Initial data: every subresource in D3D11's order, tightly packed.",
            new_obj("texture", K.TEXTURE1D), u32("width"), u32("mip_levels"), u32("array_size"),
            enum_field("format", DxgiFormat), enum_field("usage", Usage), flags_field("bind_flags", BindFlag),
            flags_field("cpu_access_flags", CpuAccessFlag), flags_field("misc_flags", ResourceMiscFlag),
            heap_range("initial_data"), feature=Feature.TEXTURE1D),
    command(54, "CREATE_TEXTURE3D",
            "ID3D11Device::CreateTexture3D. Initial data: every mip in order, each depth slice after "
            "slice with tightly packed rows.",
            new_obj("texture", K.TEXTURE3D), u32("width"), u32("height"), u32("depth"), u32("mip_levels"),
            enum_field("format", DxgiFormat), enum_field("usage", Usage), flags_field("bind_flags", BindFlag),
            flags_field("cpu_access_flags", CpuAccessFlag), flags_field("misc_flags", ResourceMiscFlag),
            heap_range("initial_data"), feature=Feature.TEXTURE3D),
    command(55, "CREATE_BUFFER_SHADER_RESOURCE_VIEW",
            "ID3D11Device::CreateShaderResourceView of a buffer (D3D11_SRV_DIMENSION_BUFFER / BUFFEREX): "
            "structured (format UNKNOWN), raw (R32_TYPELESS with flag RAW) or typed 32-bit elements; "
            "shaders read it as a `var<storage, read>` array.",
            new_obj("view", K.SHADER_RESOURCE_VIEW), obj("buffer", K.BUFFER), enum_field("format", DxgiFormat),
            u32("first_element"), u32("num_elements"), flags_field("flags", BufferViewFlag)),
    command(56, "CREATE_UNORDERED_ACCESS_VIEW",
            "ID3D11Device::CreateUnorderedAccessView of a texture: one mip; array slices (first_array_slice, "
            "array_size), or for TEXTURE3D the depth slices (first W slice, W size; 0xFFFFFFFF: all).",
            new_obj("view", K.UNORDERED_ACCESS_VIEW), obj("resource", *TEXTURE_KINDS), u32("format"),
            enum_field("view_dimension", UavDimension), u32("mip_slice"), u32("first_array_slice"),
            u32("array_size"), feature=Feature.COMPUTE_SHADERS),
    command(57, "CREATE_BUFFER_UNORDERED_ACCESS_VIEW",
            "ID3D11Device::CreateUnorderedAccessView of a buffer: structured, raw or typed 32-bit elements; "
            "shaders write it as a `var<storage, read_write>` array.",
            new_obj("view", K.UNORDERED_ACCESS_VIEW), obj("buffer", K.BUFFER), enum_field("format", DxgiFormat),
            u32("first_element"), u32("num_elements"), flags_field("flags", BufferViewFlag),
            feature=Feature.COMPUTE_SHADERS),
    command(58, "CREATE_COMPUTE_SHADER", "ID3D11Device::CreateComputeShader; the code is read from the heap.",
            new_obj("shader", K.COMPUTE_SHADER), enum_field("language", ShaderLanguage), heap_range("code"),
            feature=Feature.COMPUTE_SHADERS),
    command(59, "SET_COMPUTE_SHADER", "ID3D11DeviceContext::CSSetShader.",
            obj("shader", K.COMPUTE_SHADER, optional=True), feature=Feature.COMPUTE_SHADERS),
    command(60, "SET_UNORDERED_ACCESS_VIEWS", "ID3D11DeviceContext::CSSetUnorderedAccessViews.",
            u32("start_slot"), count("view_count", MAX_UNORDERED_ACCESS_VIEWS), array=UAV_SLOT,
            feature=Feature.COMPUTE_SHADERS),
    command(61, "DISPATCH", "ID3D11DeviceContext::Dispatch: thread groups in x, y and z.",
            u32("thread_group_count_x"), u32("thread_group_count_y"), u32("thread_group_count_z"),
            predicated=True, feature=Feature.COMPUTE_SHADERS),
    command(62, "DISPATCH_INDIRECT",
            "ID3D11DeviceContext::DispatchIndirect: three group counts read by the GPU from `args` (a buffer "
            "with RESOURCE_MISC_DRAWINDIRECT_ARGS) at `aligned_byte_offset`.",
            obj("args", K.BUFFER), u32("aligned_byte_offset"), predicated=True, feature=Feature.COMPUTE_SHADERS),
    command(63, "CLEAR_UNORDERED_ACCESS_VIEW_FLOAT", "ID3D11DeviceContext::ClearUnorderedAccessViewFloat.",
            obj("view", K.UNORDERED_ACCESS_VIEW), _rgba("value"), predicated=True, feature=Feature.COMPUTE_SHADERS),
    command(64, "CLEAR_UNORDERED_ACCESS_VIEW_UINT", "ID3D11DeviceContext::ClearUnorderedAccessViewUint.",
            obj("view", K.UNORDERED_ACCESS_VIEW), u32("value_r"), u32("value_g"), u32("value_b"), u32("value_a"),
            predicated=True, feature=Feature.COMPUTE_SHADERS),
    command(65, "SET_PREDICATION",
            "ID3D11DeviceContext::SetPredication: while set, draws, dispatches, clears and copies are skipped "
            "when the predicate's result equals `value`. The host waits for the predicate's result here.",
            obj("predicate", K.QUERY, optional=True), boolean("value"), feature=Feature.PREDICATION),
    command(66, "GET_SHARED_HANDLE",
            "IDXGIResource::GetSharedHandle of a RESOURCE_MISC_SHARED texture: the host writes the u64 "
            "handle into `result` by the time a following FENCE completes.",
            obj("resource", K.TEXTURE2D), heap_range("result"), feature=Feature.SHARED_RESOURCES),
    command(67, "OPEN_SHARED_RESOURCE",
            "ID3D11Device::OpenSharedResource: `texture` becomes this guest's id for the shared texture; the "
            "host writes its description (SharedTextureDesc) into `desc` by the time a following FENCE completes.",
            new_obj("texture", K.TEXTURE2D), u64("handle"), heap_range("desc"), feature=Feature.SHARED_RESOURCES),
    command(68, "CREATE_GEOMETRY_SHADER",
            "ID3D11Device::CreateGeometryShader. Not offered yet (WebGPU has no geometry stage): refused "
            "with UNSUPPORTED.",
            new_obj("shader", K.GEOMETRY_SHADER), enum_field("language", ShaderLanguage), heap_range("code")),
    command(69, "CREATE_HULL_SHADER",
            "ID3D11Device::CreateHullShader. Not offered yet (WebGPU has no tessellation): refused with UNSUPPORTED.",
            new_obj("shader", K.HULL_SHADER), enum_field("language", ShaderLanguage), heap_range("code")),
    command(70, "CREATE_DOMAIN_SHADER",
            "ID3D11Device::CreateDomainShader. Not offered yet (WebGPU has no tessellation): refused with "
            "UNSUPPORTED.",
            new_obj("shader", K.DOMAIN_SHADER), enum_field("language", ShaderLanguage), heap_range("code")),
    command(71, "COPY_STRUCTURE_COUNT",
            "ID3D11DeviceContext::CopyStructureCount: the GPU copies the hidden counter of `src_view` (a buffer "
            "UAV created with APPEND or COUNTER) as a u32 into `dst_buffer` at `dst_aligned_byte_offset` (a "
            "multiple of 4).",
            obj("dst_buffer", K.BUFFER), u32("dst_aligned_byte_offset"), obj("src_view", K.UNORDERED_ACCESS_VIEW),
            feature=Feature.COMPUTE_SHADERS),
    command(72, "SET_DISPLAY_MODE",
            "IDXGISwapChain::ResizeTarget and SetFullscreenState together: the guest's output takes the "
            "offered display mode `mode_index` (an index into the control page's display_modes; refused with "
            "INVALID_CALL beyond display_mode_count) and goes fullscreen or windowed. Ordered with the frames: "
            "presents after it are paced to the chosen mode's refresh rate when fullscreen, to the desktop's "
            "(60 Hz) when windowed. The host writes display_mode_chosen, display_fullscreen and display_refresh. "
            "The back buffer keeps its size (RESIZE_BUFFERS changes it).",
            obj("swap_chain", K.SWAP_CHAIN), u32("mode_index"), boolean("fullscreen")),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
BY_OPCODE: dict[int, Command] = {c.opcode: c for c in COMMANDS}
assert len(BY_NAME) == len(COMMANDS) == len(BY_OPCODE), "duplicate command name or opcode"


# --- feature bits ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureUse:
    """A field value that needs a feature bit: a command whose `field` (of the command, or of
    every element of its array when `element`) holds one of `values` (enum and bool fields) or
    any bit of `mask` (flag fields) is refused with UNSUPPORTED unless the session accepted
    `feature`. Whole commands that need a feature say so in their entry (`Command.feature`)."""

    command: str
    field: str
    feature: Feature
    values: frozenset[int] = frozenset()
    mask: int = 0
    element: bool = False

    def uses(self, value: int) -> bool:
        return value in self.values or bool(value & self.mask)

    def describe(self, value: int) -> str:
        """The value as the error detail names it (`fill_mode=WIREFRAME`, `misc_flags has SHARED`:
        the lowest bit that needs the feature; details have ERROR_DETAIL_BYTES at most)."""
        f = self.field_spec
        if self.mask:
            bit = next(m for m in sorted(f.enum) if int(m) & self.mask & value)
            return f"{self.field} has {bit.name}"
        if f.enum is not None:
            return f"{self.field}={f.enum(value).name}"
        return f"{self.field}={value}"

    @property
    def field_spec(self) -> Field:
        cmd = BY_NAME[self.command]
        fields = cmd.array.fields if self.element else cmd.fields
        return next(f for f in fields if f.name == self.field)


def _uses(commands: tuple[str, ...], field: str, feature: Feature, values=(), mask: int = 0,
          element: bool = False) -> tuple[FeatureUse, ...]:
    return tuple(FeatureUse(c, field, feature, frozenset(int(v) for v in values), int(mask), element)
                 for c in commands)


_SHADER_CREATES = ("CREATE_VERTEX_SHADER", "CREATE_PIXEL_SHADER", "CREATE_COMPUTE_SHADER", "CREATE_GEOMETRY_SHADER",
                   "CREATE_HULL_SHADER", "CREATE_DOMAIN_SHADER")
_RESOURCE_CREATES = ("CREATE_BUFFER", "CREATE_TEXTURE1D", "CREATE_TEXTURE2D", "CREATE_TEXTURE3D")

#: Field values that need a feature bit (the commands that need one whole: `Command.feature`).
FEATURE_USES: tuple[FeatureUse, ...] = (
    *_uses(_SHADER_CREATES, "language", Feature.WGSL_SHADERS, values=(ShaderLanguage.WGSL,)),
    *_uses(("CREATE_INPUT_LAYOUT",), "input_slot_class", Feature.INSTANCING,
           values=(InputClassification.PER_INSTANCE_DATA,), element=True),
    *_uses(("CREATE_SAMPLER_STATE",), "filter", Feature.ANISOTROPIC_FILTERING,
           values=(Filter.ANISOTROPIC, Filter.COMPARISON_ANISOTROPIC)),
    *_uses(("CREATE_RASTERIZER_STATE",), "fill_mode", Feature.FILL_WIREFRAME, values=(FillMode.WIREFRAME,)),
    *_uses(("CREATE_RASTERIZER_STATE",), "depth_clip_enable", Feature.DEPTH_CLIP_CONTROL, values=(0,)),
    *_uses(("CREATE_QUERY",), "type", Feature.TIMESTAMP_QUERIES, values=(QueryType.TIMESTAMP,)),
    *_uses(("CREATE_QUERY",), "type", Feature.PIPELINE_STATISTICS_QUERIES, values=(QueryType.PIPELINE_STATISTICS,)),
    *_uses(_RESOURCE_CREATES, "bind_flags", Feature.COMPUTE_SHADERS, mask=BindFlag.UNORDERED_ACCESS),
    *_uses(("CREATE_BUFFER",), "misc_flags", Feature.COMPUTE_SHADERS,
           mask=ResourceMiscFlag.BUFFER_STRUCTURED | ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS),
    *_uses(("CREATE_BUFFER_SHADER_RESOURCE_VIEW",), "flags", Feature.COMPUTE_SHADERS, mask=BufferViewFlag.RAW),
    *_uses(("SET_CONSTANT_BUFFERS", "SET_SHADER_RESOURCES", "SET_SAMPLERS"), "stage", Feature.COMPUTE_SHADERS,
           values=(ShaderStage.COMPUTE,)),
    *_uses(("CREATE_TEXTURE2D",), "misc_flags", Feature.SHARED_RESOURCES, mask=ResourceMiscFlag.SHARED),
)

#: Feature bits that gate no command or value, and why.
UNGATED_FEATURES: dict[Feature, str] = {
    Feature.HEADLESS_PRESENT: "says the host can present without a display (frames to files, callbacks, a "
                              "stream); PRESENT is the same command whichever presenters the host runs",
}


def _check_feature_table() -> None:
    for use in FEATURE_USES:
        f = use.field_spec  # StopIteration: a field the command does not have
        want = (Meaning.FLAGS,) if use.mask else (Meaning.ENUM, Meaning.BOOL)
        assert (use.mask != 0) != bool(use.values) and f.meaning in want, \
            f"{use.command}.{use.field}: a mask for a flags field, values for an enum or bool field"
    gated = {c.feature for c in COMMANDS if c.feature} | {u.feature for u in FEATURE_USES} | set(UNGATED_FEATURES)
    missing = [f.name for f in Feature if f not in gated]
    assert not missing, f"feature bits neither gating nor listed as ungated: {missing}"


_check_feature_table()
