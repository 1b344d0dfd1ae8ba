"""`Device`: D3D11's ID3D11Device in snake case, recording into the shared ring.

Objects are created asynchronously, as a D3D11 driver would forward them: the guest picks
the id, the command goes into the ring, and any problem the host finds is reported in the
error log (raised as `HostReportedError` at the next synchronisation point).
"""

from __future__ import annotations

from typing import Sequence

import struct

import numpy as np

from ..protocol.enums import (
    BindFlag, BufferViewFlag, DxgiFormat, FORMAT_BYTES, FormatSupport, ObjectKind, QueryType, ResourceMiscFlag,
    ShaderLanguage, SrvDimension, UavDimension,
)
from ..protocol.codec import STRUCT_LAYOUTS
from .connection import GuestConnection
from .descs import (
    BlendDesc, BufferDesc, DepthStencilDesc, InputElementDesc, RasterizerDesc, SamplerDesc, SwapChainDesc,
    Texture1DDesc, Texture2DDesc, Texture3DDesc,
)


class DeviceChild:
    """An object the host holds for this guest under `id`."""

    kind: ObjectKind

    def __init__(self, device: "Device", object_id: int):
        self.device = device
        self.id = object_id
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.device._release(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id}>"


class Buffer(DeviceChild):
    kind = ObjectKind.BUFFER

    def __init__(self, device: "Device", object_id: int, desc: BufferDesc):
        super().__init__(device, object_id)
        self.desc = desc


class Texture(DeviceChild):
    """What Texture1D, Texture2D and Texture3D share: a desc with width, height, depth (1 where
    the kind has none), mip levels and array size."""

    def __init__(self, device: "Device", object_id: int, desc):
        super().__init__(device, object_id)
        self.desc = desc

    def mip_size(self, mip: int) -> tuple[int, int]:
        return max(1, self.desc.width >> mip), max(1, self.desc.height >> mip)

    def subresource_extent(self, subresource: int) -> tuple[int, int, int]:
        """(width, height, depth) of subresource `mip + slice * mip_levels`."""
        d = self.desc
        mips = d.mip_levels or max(d.width, d.height, d.depth).bit_length()  # 0 means the full chain
        mip = subresource % mips
        return (*self.mip_size(mip), max(1, d.depth >> mip))

    def subresource_size(self, subresource: int) -> tuple[int, int]:
        """Size of subresource `mip + slice * mip_levels` (D3D11CalcSubresource's inverse)."""
        return self.subresource_extent(subresource)[:2]

    def get_shared_handle(self) -> int:
        """IDXGIResource::GetSharedHandle of a texture created with RESOURCE_MISC_SHARED: the
        handle another guest process opens with Device.open_shared_resource (waits for the host)."""
        raw = self.device._host_result("GET_SHARED_HANDLE", "result", 8, resource=self.id)
        return struct.unpack_from("<Q", raw)[0]


class Texture1D(Texture):
    kind = ObjectKind.TEXTURE1D


class Texture2D(Texture):
    kind = ObjectKind.TEXTURE2D


class Texture3D(Texture):
    kind = ObjectKind.TEXTURE3D


class BackBuffer(Texture2D):
    """A swap chain's back buffer: the swap chain owns it. Releasing it (the reference
    GetBuffer gave) leaves it alive; releasing the swap chain frees it and its id."""

    def release(self) -> None:
        pass

    def _freed_with_owner(self) -> None:
        if not self.released:
            self.released = True
            self.device._free_ids.append(self.id)


class RenderTargetView(DeviceChild):
    kind = ObjectKind.RENDER_TARGET_VIEW


class DepthStencilView(DeviceChild):
    kind = ObjectKind.DEPTH_STENCIL_VIEW


class ShaderResourceView(DeviceChild):
    kind = ObjectKind.SHADER_RESOURCE_VIEW


class UnorderedAccessView(DeviceChild):
    kind = ObjectKind.UNORDERED_ACCESS_VIEW


class BlendState(DeviceChild):
    kind = ObjectKind.BLEND_STATE


class RasterizerState(DeviceChild):
    kind = ObjectKind.RASTERIZER_STATE


class DepthStencilState(DeviceChild):
    kind = ObjectKind.DEPTH_STENCIL_STATE


class SamplerState(DeviceChild):
    kind = ObjectKind.SAMPLER_STATE


class InputLayout(DeviceChild):
    kind = ObjectKind.INPUT_LAYOUT


class Query(DeviceChild):
    kind = ObjectKind.QUERY

    def __init__(self, device: "Device", object_id: int, query_type: QueryType):
        super().__init__(device, object_id)
        self.type = query_type
        self.pending: tuple[int, int] | None = None  # (heap offset, fence) of the last End
        self.result: bytes | None = None


class VertexShader(DeviceChild):
    kind = ObjectKind.VERTEX_SHADER


class PixelShader(DeviceChild):
    kind = ObjectKind.PIXEL_SHADER


class ComputeShader(DeviceChild):
    kind = ObjectKind.COMPUTE_SHADER


class GeometryShader(DeviceChild):
    kind = ObjectKind.GEOMETRY_SHADER


class HullShader(DeviceChild):
    kind = ObjectKind.HULL_SHADER


class DomainShader(DeviceChild):
    kind = ObjectKind.DOMAIN_SHADER


def _bytes_of(data) -> memoryview:
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
    return memoryview(data).cast("B")


class Device:
    def __init__(self, connection: GuestConnection):
        self.connection = connection
        self._next_id = 1
        self._free_ids: list[int] = []
        from .context import DeviceContext
        self.immediate_context = DeviceContext(self)

    def _new_id(self) -> int:
        if self._free_ids:
            return self._free_ids.pop()
        object_id = self._next_id
        self._next_id += 1
        return object_id

    def _release(self, obj: DeviceChild) -> None:
        self.connection.emit_destroy_object(obj.id)
        self._free_ids.append(obj.id)

    def get_immediate_context(self):
        return self.immediate_context

    # --- resources -------------------------------------------------------------------------
    def create_buffer(self, desc: BufferDesc, initial_data=None) -> Buffer:
        off, size = self.connection.upload(_bytes_of(initial_data)) if initial_data is not None else (0, 0)
        buf = Buffer(self, self._new_id(), desc)
        self.connection.emit("CREATE_BUFFER", buffer=buf.id, byte_width=desc.byte_width, usage=desc.usage,
                             bind_flags=desc.bind_flags, cpu_access_flags=desc.cpu_access_flags,
                             misc_flags=desc.misc_flags, structure_byte_stride=desc.structure_byte_stride,
                             initial_data_offset=off, initial_data_size=size)
        return buf

    def _upload_initial(self, initial_data) -> tuple[int, int]:
        if initial_data is None:
            return 0, 0
        if isinstance(initial_data, (list, tuple)):
            initial_data = b"".join(bytes(_bytes_of(d)) for d in initial_data)
        return self.connection.upload(_bytes_of(initial_data))

    def create_texture1d(self, desc: Texture1DDesc, initial_data=None) -> Texture1D:
        """ID3D11Device::CreateTexture1D; `initial_data` as for create_texture2d. Shaders see a
        1D texture as a 2D texture of height 1 (see the binding convention)."""
        off, size = self._upload_initial(initial_data)
        tex = Texture1D(self, self._new_id(), desc)
        self.connection.emit("CREATE_TEXTURE1D", texture=tex.id, width=desc.width, mip_levels=desc.mip_levels,
                             array_size=desc.array_size, format=desc.format, usage=desc.usage,
                             bind_flags=desc.bind_flags, cpu_access_flags=desc.cpu_access_flags,
                             misc_flags=desc.misc_flags, initial_data_offset=off, initial_data_size=size)
        return tex

    def create_texture2d(self, desc: Texture2DDesc, initial_data=None) -> Texture2D:
        """`initial_data`: bytes of every subresource, tightly packed, in D3D11's order (slice by
        slice, mip 0 first within a slice); or a list with one array (or bytes) per subresource."""
        off, size = self._upload_initial(initial_data)
        tex = Texture2D(self, self._new_id(), desc)
        self.connection.emit("CREATE_TEXTURE2D", texture=tex.id, width=desc.width, height=desc.height,
                             mip_levels=desc.mip_levels, array_size=desc.array_size, format=desc.format,
                             sample_count=desc.sample_count, sample_quality=desc.sample_quality, usage=desc.usage,
                             bind_flags=desc.bind_flags, cpu_access_flags=desc.cpu_access_flags,
                             misc_flags=desc.misc_flags, initial_data_offset=off, initial_data_size=size)
        return tex

    def create_texture3d(self, desc: Texture3DDesc, initial_data=None) -> Texture3D:
        """ID3D11Device::CreateTexture3D; `initial_data`: every mip in order, each the depth
        slices one after another with tightly packed rows (or a list with one item per mip)."""
        off, size = self._upload_initial(initial_data)
        tex = Texture3D(self, self._new_id(), desc)
        self.connection.emit("CREATE_TEXTURE3D", texture=tex.id, width=desc.width, height=desc.height,
                             depth=desc.depth, mip_levels=desc.mip_levels, format=desc.format, usage=desc.usage,
                             bind_flags=desc.bind_flags, cpu_access_flags=desc.cpu_access_flags,
                             misc_flags=desc.misc_flags, initial_data_offset=off, initial_data_size=size)
        return tex

    # --- views -----------------------------------------------------------------------------
    def create_render_target_view(self, resource: Texture, format: int = 0, mip_slice: int = 0,
                                  array_slice: int = 0) -> RenderTargetView:
        return self._view(RenderTargetView, "CREATE_RENDER_TARGET_VIEW", resource, format=format,
                          mip_slice=mip_slice, array_slice=array_slice)

    def create_depth_stencil_view(self, resource: Texture, format: int = 0, mip_slice: int = 0,
                                  array_slice: int = 0, flags: int = 0) -> DepthStencilView:
        """`flags`: DsvFlag.READ_ONLY_DEPTH / READ_ONLY_STENCIL (the texture may then also be
        bound as a shader resource while the view is bound)."""
        return self._view(DepthStencilView, "CREATE_DEPTH_STENCIL_VIEW", resource, format=format,
                          mip_slice=mip_slice, array_slice=array_slice, flags=flags)

    def create_shader_resource_view(self, resource: Texture | Buffer, format: int = 0, most_detailed_mip: int = 0,
                                    mip_levels: int = 0xFFFFFFFF, view_dimension: SrvDimension | None = None,
                                    first_array_slice: int = 0, array_size: int | None = None,
                                    first_element: int = 0, num_elements: int | None = None,
                                    flags: int = 0) -> ShaderResourceView:
        """`view_dimension` defaults from the texture: cube (array) for RESOURCE_MISC_TEXTURECUBE,
        an array for several slices, else the texture's kind. `array_size` counts 2D slices (6
        per cube). For a buffer: `first_element`/`num_elements` (default: the whole buffer) of a
        structured view (format UNKNOWN), a raw view (R32_TYPELESS, flags BufferViewFlag.RAW)
        or a typed one (a 32-bit channel format)."""
        if isinstance(resource, Buffer):
            return self._buffer_view(ShaderResourceView, "CREATE_BUFFER_SHADER_RESOURCE_VIEW", resource, format,
                                     first_element, num_elements, flags)
        d = resource.desc
        cube = bool(d.misc_flags & ResourceMiscFlag.TEXTURECUBE)
        if view_dimension is None:
            view_dimension = (SrvDimension.TEXTURE3D if isinstance(resource, Texture3D) else
                              SrvDimension.TEXTURE1DARRAY if isinstance(resource, Texture1D) and d.array_size > 1 else
                              SrvDimension.TEXTURE1D if isinstance(resource, Texture1D) else
                              SrvDimension.TEXTURECUBEARRAY if cube and d.array_size > 6 else
                              SrvDimension.TEXTURECUBE if cube else
                              SrvDimension.TEXTURE2DARRAY if d.array_size > 1 else SrvDimension.TEXTURE2D)
        if array_size is None:
            single = (SrvDimension.TEXTURE1D, SrvDimension.TEXTURE2D, SrvDimension.TEXTURE3D)
            array_size = 1 if view_dimension in single else d.array_size - first_array_slice
        return self._view(ShaderResourceView, "CREATE_SHADER_RESOURCE_VIEW", resource, format=format,
                          view_dimension=view_dimension, most_detailed_mip=most_detailed_mip, mip_levels=mip_levels,
                          first_array_slice=first_array_slice, array_size=array_size)

    def create_unordered_access_view(self, resource: Texture | Buffer, format: int = 0, mip_slice: int = 0,
                                     view_dimension: UavDimension | None = None, first_array_slice: int = 0,
                                     array_size: int | None = None, first_element: int = 0,
                                     num_elements: int | None = None, flags: int = 0) -> UnorderedAccessView:
        """ID3D11Device::CreateUnorderedAccessView. For a texture: one mip, the array slices
        (default: all; for a Texture3D the depth slices, which must be all of them). For a
        buffer: as create_shader_resource_view's buffer views."""
        if isinstance(resource, Buffer):
            return self._buffer_view(UnorderedAccessView, "CREATE_BUFFER_UNORDERED_ACCESS_VIEW", resource, format,
                                     first_element, num_elements, flags)
        d = resource.desc
        if view_dimension is None:
            view_dimension = (UavDimension.TEXTURE3D if isinstance(resource, Texture3D) else
                              UavDimension.TEXTURE1DARRAY if isinstance(resource, Texture1D) and d.array_size > 1 else
                              UavDimension.TEXTURE1D if isinstance(resource, Texture1D) else
                              UavDimension.TEXTURE2DARRAY if d.array_size > 1 else UavDimension.TEXTURE2D)
        if array_size is None:
            array_size = 0xFFFFFFFF if isinstance(resource, Texture3D) else \
                1 if view_dimension in (UavDimension.TEXTURE1D, UavDimension.TEXTURE2D) else \
                d.array_size - first_array_slice
        return self._view(UnorderedAccessView, "CREATE_UNORDERED_ACCESS_VIEW", resource, format=format,
                          view_dimension=view_dimension, mip_slice=mip_slice, first_array_slice=first_array_slice,
                          array_size=array_size)

    def _buffer_view(self, cls, command: str, buffer: Buffer, format: int, first_element: int,
                     num_elements: int | None, flags: int):
        if num_elements is None:
            d = buffer.desc
            stride = (4 if flags & BufferViewFlag.RAW else
                      d.structure_byte_stride if d.misc_flags & ResourceMiscFlag.BUFFER_STRUCTURED else
                      FORMAT_BYTES.get(DxgiFormat(format), 4))
            num_elements = d.byte_width // stride - first_element
        view = cls(self, self._new_id())
        view.resource = buffer
        self.connection.emit(command, view=view.id, buffer=buffer.id, format=format, first_element=first_element,
                             num_elements=num_elements, flags=flags)
        return view

    def _view(self, cls, command: str, resource: Texture, **fields):
        view = cls(self, self._new_id())
        view.resource = resource
        self.connection.emit(command, view=view.id, resource=resource.id, **fields)
        return view

    # --- states ----------------------------------------------------------------------------
    def create_blend_state(self, desc: BlendDesc) -> BlendState:
        state = BlendState(self, self._new_id())
        rts = [(int(rt.blend_enable), rt.src_blend, rt.dest_blend, rt.blend_op, rt.src_blend_alpha,
                rt.dest_blend_alpha, rt.blend_op_alpha, rt.render_target_write_mask) for rt in desc.render_target]
        self.connection.emit("CREATE_BLEND_STATE", rts, state=state.id,
                             alpha_to_coverage_enable=int(desc.alpha_to_coverage_enable),
                             independent_blend_enable=int(desc.independent_blend_enable))
        return state

    def create_rasterizer_state(self, desc: RasterizerDesc) -> RasterizerState:
        state = RasterizerState(self, self._new_id())
        self.connection.emit("CREATE_RASTERIZER_STATE", state=state.id, fill_mode=desc.fill_mode,
                             cull_mode=desc.cull_mode, front_counter_clockwise=int(desc.front_counter_clockwise),
                             depth_bias=desc.depth_bias, depth_bias_clamp=desc.depth_bias_clamp,
                             slope_scaled_depth_bias=desc.slope_scaled_depth_bias,
                             depth_clip_enable=int(desc.depth_clip_enable), scissor_enable=int(desc.scissor_enable),
                             multisample_enable=int(desc.multisample_enable),
                             antialiased_line_enable=int(desc.antialiased_line_enable))
        return state

    def create_depth_stencil_state(self, desc: DepthStencilDesc) -> DepthStencilState:
        state = DepthStencilState(self, self._new_id())
        f, b = desc.front_face, desc.back_face
        self.connection.emit("CREATE_DEPTH_STENCIL_STATE", state=state.id, depth_enable=int(desc.depth_enable),
                             depth_write_mask=desc.depth_write_mask, depth_func=desc.depth_func,
                             stencil_enable=int(desc.stencil_enable), stencil_read_mask=desc.stencil_read_mask,
                             stencil_write_mask=desc.stencil_write_mask,
                             front_fail_op=f.stencil_fail_op, front_depth_fail_op=f.stencil_depth_fail_op,
                             front_pass_op=f.stencil_pass_op, front_func=f.stencil_func,
                             back_fail_op=b.stencil_fail_op, back_depth_fail_op=b.stencil_depth_fail_op,
                             back_pass_op=b.stencil_pass_op, back_func=b.stencil_func)
        return state

    def create_sampler_state(self, desc: SamplerDesc) -> SamplerState:
        state = SamplerState(self, self._new_id())
        r, g, b, a = desc.border_color
        self.connection.emit("CREATE_SAMPLER_STATE", sampler=state.id, filter=desc.filter,
                             address_u=desc.address_u, address_v=desc.address_v, address_w=desc.address_w,
                             mip_lod_bias=desc.mip_lod_bias, max_anisotropy=desc.max_anisotropy,
                             comparison_func=desc.comparison_func, border_color_r=r, border_color_g=g,
                             border_color_b=b, border_color_a=a, min_lod=desc.min_lod, max_lod=desc.max_lod)
        return state

    def create_input_layout(self, elements: Sequence[InputElementDesc],
                            shader_bytecode: bytes | str | None = None) -> InputLayout:
        """ID3D11Device::CreateInputLayout. With a DXBC vertex shader's bytecode, the host matches
        the elements to its input signature by semantic name (case-insensitive) and index, as
        D3D11 does; with WGSL (or None), element i feeds @location(i)."""
        layout = InputLayout(self, self._new_id())
        items = [(e.semantic_index, e.format, e.input_slot, e.aligned_byte_offset, e.input_slot_class,
                  e.instance_data_step_rate) for e in elements]
        names = b"".join(e.semantic_name.encode("ascii") + b"\0" for e in elements)
        n_off, n_size = self.connection.upload(names) if names else (0, 0)
        b_off = b_size = 0
        if isinstance(shader_bytecode, (bytes, bytearray, memoryview)) and bytes(shader_bytecode[:4]) == b"DXBC":
            b_off, b_size = self.connection.upload(bytes(shader_bytecode))
        self.connection.emit("CREATE_INPUT_LAYOUT", items, layout=layout.id, semantic_names_offset=n_off,
                             semantic_names_size=n_size, shader_bytecode_offset=b_off, shader_bytecode_size=b_size)
        return layout

    def create_query(self, query_type: QueryType) -> Query:
        """ID3D11Device::CreateQuery (CreatePredicate is OCCLUSION_PREDICATE here)."""
        query = Query(self, self._new_id(), QueryType(query_type))
        self.connection.emit("CREATE_QUERY", query=query.id, type=query.type)
        return query

    def open_shared_resource(self, handle: int) -> Texture2D:
        """ID3D11Device::OpenSharedResource: the shared texture another guest process created
        (its contents are what that process last flushed). Waits for the host's answer."""
        layout = STRUCT_LAYOUTS["SharedTextureDesc"]
        tex = Texture2D(self, self._new_id(), None)
        try:
            raw = self._host_result("OPEN_SHARED_RESOURCE", "desc", layout.size, texture=tex.id, handle=handle)
        except BaseException:
            self._free_ids.append(tex.id)
            raise
        d = layout.cls(*layout.wire_to_values(layout.struct.unpack_from(raw)))
        tex.desc = Texture2DDesc(d.width, d.height, DxgiFormat(d.format), bind_flags=d.bind_flags,
                                 misc_flags=d.misc_flags)
        return tex

    def _host_result(self, command: str, range_name: str, size: int, **fields) -> bytes:
        """Send a command whose answer the host writes into a heap range; wait for it."""
        conn = self.connection
        off = conn.reserve_heap(size)
        conn.emit(command, **fields, **{f"{range_name}_offset": off, f"{range_name}_size": size})
        conn.wait_fence(conn.fence())
        conn.raise_host_errors()
        return bytes(conn.region.heap[off:off + size])

    def create_predicate(self) -> Query:
        """ID3D11Device::CreatePredicate (an OCCLUSION_PREDICATE query, for SetPredication)."""
        return self.create_query(QueryType.OCCLUSION_PREDICATE)

    def _create_shader(self, cls, opcode: str, code: str | bytes, language: ShaderLanguage | None):
        """`code`: WGSL source (str) or a DXBC blob (bytes starting b"DXBC"), as the language says;
        language None tells them apart that way."""
        data = code.encode("utf-8") if isinstance(code, str) else bytes(code)
        if language is None:
            language = ShaderLanguage.DXBC if data[:4] == b"DXBC" else ShaderLanguage.WGSL
        off, size = self.connection.upload(data)
        shader = cls(self, self._new_id())
        self.connection.emit(opcode, shader=shader.id, language=language, code_offset=off, code_size=size)
        return shader

    def create_vertex_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> VertexShader:
        """ID3D11Device::CreateVertexShader: DXBC bytecode (bytes) or WGSL source (str)."""
        return self._create_shader(VertexShader, "CREATE_VERTEX_SHADER", code, language)

    def create_pixel_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> PixelShader:
        """ID3D11Device::CreatePixelShader: DXBC bytecode (bytes) or WGSL source (str)."""
        return self._create_shader(PixelShader, "CREATE_PIXEL_SHADER", code, language)

    def create_compute_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> ComputeShader:
        """DXBC bytecode, or a WGSL module with one @compute entry point (resources in @group(2))."""
        return self._create_shader(ComputeShader, "CREATE_COMPUTE_SHADER", code, language)

    def create_geometry_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> "GeometryShader":
        """Recorded as D3D11 would; the host refuses it (UNSUPPORTED) until it emulates the stage."""
        return self._create_shader(GeometryShader, "CREATE_GEOMETRY_SHADER", code, language)

    def create_hull_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> "HullShader":
        """Recorded as D3D11 would; the host refuses it (UNSUPPORTED) until it emulates tessellation."""
        return self._create_shader(HullShader, "CREATE_HULL_SHADER", code, language)

    def create_domain_shader(self, code: str | bytes, language: ShaderLanguage | None = None) -> "DomainShader":
        """Recorded as D3D11 would; the host refuses it (UNSUPPORTED) until it emulates tessellation."""
        return self._create_shader(DomainShader, "CREATE_DOMAIN_SHADER", code, language)

    # --- DXGI ------------------------------------------------------------------------------
    def create_swap_chain(self, desc: SwapChainDesc):
        from .swapchain import SwapChain
        chain_id, buffer_id = self._new_id(), self._new_id()
        back = BackBuffer(self, buffer_id, Texture2DDesc(desc.width, desc.height, desc.format,
                                                         bind_flags=BindFlag.RENDER_TARGET | BindFlag.SHADER_RESOURCE))
        self.connection.emit("CREATE_SWAP_CHAIN", swap_chain=chain_id, buffer=buffer_id, width=desc.width,
                             height=desc.height, format=desc.format, buffer_count=desc.buffer_count)
        return SwapChain(self, chain_id, desc, back)

    def get_display_mode_list(self, format: DxgiFormat | int = 0, flags: int = 0) -> list:
        """The host output's display modes (IDXGIOutput::GetDisplayModeList; see guest.output)."""
        from .output import Output
        return Output(self.connection).get_display_mode_list(format, flags)

    def check_format_support(self, format: DxgiFormat) -> FormatSupport:
        """ID3D11Device::CheckFormatSupport: what the host can do with `format` (from the
        format table the host put in the control page)."""
        from ..protocol import layout as L
        value = int(format)
        if not 0 <= value < L.FORMAT_TABLE_ENTRIES:
            return FormatSupport(0)
        table = L.FORMAT_TABLE.unpack_from(self.connection.region.mm, L.FORMAT_TABLE_OFFSET)
        return FormatSupport(table[value])

    # --- errors and sync -------------------------------------------------------------------
    def host_errors(self):
        """Error-log entries the host wrote since the last look (does not raise)."""
        return self.connection.host_errors()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def texel_bytes(format: DxgiFormat) -> int:
    return FORMAT_BYTES[DxgiFormat(format)]
