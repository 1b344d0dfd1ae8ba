"""Finding the host GPU and opening wgpu devices on it."""

from __future__ import annotations

import functools
import os

import wgpu

from ..errors import RenderError
from ..protocol.enums import Feature

#: wgpu features a session's device asks for when the adapter has them.
OPTIONAL_FEATURES = ("depth-clip-control",)


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
    a = adapter()
    wanted = [f for f in OPTIONAL_FEATURES if f in a.features]
    return a.request_device_sync(required_features=wanted), frozenset(wanted)


def offered_features() -> int:
    """The Feature bits this host offers, from what the adapter supports."""
    bits = Feature.WGSL_SHADERS | Feature.TEXTURE2D | Feature.HEADLESS_PRESENT | Feature.INSTANCING \
        | Feature.ANISOTROPIC_FILTERING
    if "depth-clip-control" in adapter().features:
        bits |= Feature.DEPTH_CLIP_CONTROL
    return int(bits)
