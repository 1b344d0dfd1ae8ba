"""Finding the host GPU and opening wgpu devices on it."""

from __future__ import annotations

import functools
import os

import wgpu

from ..errors import RenderError
from ..protocol.enums import Feature

#: wgpu features a session's device asks for when the adapter has them.
#: (Not depth-clip-control: wgpu-py 0.32 drops PrimitiveState.unclipped_depth, so pvgpu does
#: not offer DEPTH_CLIP_CONTROL.)
OPTIONAL_FEATURES = ("float32-filterable", "rg11b10ufloat-renderable",
                     "depth32float-stencil8", "polygon-mode-line", "timestamp-query",
                     "timestamp-query-inside-encoders", "pipeline-statistics-query", "indirect-first-instance",
                     # what translated DXBC shaders may use (host/render/dxbc.py SHADER_FEATURES)
                     "clip-distances", "primitive-index", "texture-atomic", "shader-early-depth-test",
                     "shader-f64", "shader-int64")


@functools.lru_cache(maxsize=1)
def adapter() -> wgpu.GPUAdapter:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # silences a Mesa warning on headless machines
    try:
        found = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as e:  # wgpu raises plain RuntimeError when no backend loads
        raise RenderError(
            f"no GPU adapter: {e}. On Debian install the Vulkan loader and Mesa's software driver "
            f"(apt-get install libvulkan1 mesa-vulkan-drivers), or a real GPU driver") from None
    if found is None:
        raise RenderError("no GPU adapter found; install libvulkan1 and mesa-vulkan-drivers (Debian)")
    return found


def describe_adapter() -> str:
    info = adapter().info
    return f"{info.get('device', '?')} ({info.get('backend_type', '?')}, {info.get('adapter_type', '?')})"


def open_device() -> tuple[wgpu.GPUDevice, frozenset[str]]:
    wanted = device_features()
    return adapter().request_device_sync(required_features=sorted(wanted)), wanted


def offered_features() -> int:
    """The Feature bits this host offers, from what the adapter supports."""
    bits = Feature.WGSL_SHADERS | Feature.TEXTURE2D | Feature.HEADLESS_PRESENT | Feature.INSTANCING \
        | Feature.ANISOTROPIC_FILTERING | Feature.COMPUTE_SHADERS | Feature.TEXTURE1D | Feature.TEXTURE3D \
        | Feature.PREDICATION
    if "polygon-mode-line" in adapter().features:
        bits |= Feature.FILL_WIREFRAME
    if {"timestamp-query", "timestamp-query-inside-encoders"} <= set(adapter().features):
        bits |= Feature.TIMESTAMP_QUERIES
    if "pipeline-statistics-query" in adapter().features:
        bits |= Feature.PIPELINE_STATISTICS_QUERIES
    return int(bits)


def device_features() -> frozenset[str]:
    """The optional features a session's device gets on this adapter."""
    return frozenset(f for f in OPTIONAL_FEATURES if f in adapter().features)


def format_table() -> dict:
    """What pvgpu can do with each DXGI format on this host (FormatSupport per format)."""
    from .render.formats import format_support
    return format_support(device_features())
