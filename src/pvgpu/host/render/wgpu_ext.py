"""What pvgpu needs from wgpu-native that wgpu-py 0.32 does not pass through.

`create_texture` accepts `view_formats` (the sRGB twin a view may take), which wgpu-py 0.32's
GPUDevice.create_texture refuses with NotImplementedError although wgpu-native supports it.
It builds the same descriptor wgpu-py builds, plus the view formats, with wgpu-py's own
helpers; tests/test_formats.py exercises it, so a wgpu-py upgrade that changes those helpers
fails there (and one that passes view_formats itself lets this module go).
"""

from __future__ import annotations

import wgpu


def create_texture(device: wgpu.GPUDevice, *, size: tuple[int, int, int], format: str, usage: int,
                   mip_level_count: int = 1, sample_count: int = 1, dimension: str = "2d",
                   view_formats: tuple[str, ...] = ()) -> wgpu.GPUTexture:
    if not view_formats:
        return device.create_texture(size=size, format=format, usage=usage, mip_level_count=mip_level_count,
                                     sample_count=sample_count, dimension=dimension)
    from wgpu.backends.wgpu_native import _api

    formats = _api.new_array("WGPUTextureFormat[]", [_api.enummap["TextureFormat." + f] for f in view_formats])
    descriptor = _api.new_struct_p(
        "WGPUTextureDescriptor *",
        label=_api.to_c_string_view(""),
        size=_api.new_struct("WGPUExtent3D", width=size[0], height=size[1], depthOrArrayLayers=size[2]),
        mipLevelCount=mip_level_count, sampleCount=sample_count, dimension=dimension, format=format,
        usage=int(usage), viewFormatCount=len(view_formats), viewFormats=formats)
    handle = _api.libf.wgpuDeviceCreateTexture(device._internal, descriptor)
    info = {"size": tuple(size), "mip_level_count": mip_level_count, "sample_count": sample_count,
            "dimension": dimension, "format": format, "usage": int(usage), "texture_binding_view_dimension": None}
    return _api.GPUTexture("", handle, device, info)
