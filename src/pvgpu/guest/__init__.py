"""The guest runtime: a D3D11-style API (Device, DeviceContext, SwapChain) that records
commands into memory shared with the pvgpu host. It never imports the host."""

from __future__ import annotations

from ..protocol.enums import (  # noqa: F401  (re-exported for D3D11-style code)
    BindFlag, Blend, BlendOp, BufferViewFlag, ClearFlag, DsvFlag, ComparisonFunc, CpuAccessFlag, CullMode, DepthWriteMask,
    DxgiFormat, Feature, FormatSupport, QueryType, ResourceMiscFlag, SrvDimension, UavDimension,
    FillMode, Filter, InputClassification, MapType, PrimitiveTopology, StencilOp, TextureAddressMode, Usage,
)
from ..protocol.spec import APPEND_ALIGNED_ELEMENT  # noqa: F401
from .connection import GuestConnection
from .context import DeviceContext, MappedSubresource
from .descs import (  # noqa: F401
    BlendDesc, Box, BufferDesc, DepthStencilDesc, DepthStencilOpDesc, FrameStatistics, InputElementDesc, ModeDesc,
    RasterizerDesc, Rational, Rect, RenderTargetBlendDesc, SamplerDesc, SwapChainDesc, Texture1DDesc, Texture2DDesc,
    Texture3DDesc, Viewport,
)
from .device import Device
from .output import Output
from .swapchain import SwapChain


def connect(socket_path: str, timeout: float = 30.0) -> Device:
    """D3D11CreateDevice for the local transport: connect to `pvgpu serve` at `socket_path`."""
    from ..transport.local import LocalGuestChannel
    channel = LocalGuestChannel(socket_path, timeout=min(timeout, 10.0))
    try:
        return Device(GuestConnection(channel, timeout=timeout))
    except BaseException:
        channel.close()
        raise


def open_device(device: str = "auto", timeout: float = 30.0) -> Device:
    """D3D11CreateDevice inside a VM: open the ivshmem PCI device (`auto`: the only one)."""
    from .ivshmem import IvshmemGuestChannel
    channel = IvshmemGuestChannel(None if device == "auto" else device)
    try:
        return Device(GuestConnection(channel, timeout=timeout))
    except BaseException:
        channel.close()
        raise


__all__ = ["connect", "open_device", "Device", "DeviceContext", "SwapChain", "MappedSubresource", "Output"]
