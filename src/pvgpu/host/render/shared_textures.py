"""The renderer's side of shared textures (RESOURCE_MISC_SHARED, GetSharedHandle,
OpenSharedResource): the surfaces this session holds, its writes published at Flush, fences
and Present, other holders' writes taken in before its next commands. The surface files
themselves are sharing.py's.

`SharedTextureCommands` is part of `Renderer` (a mixin).
"""

from __future__ import annotations

import struct

from ...protocol.enums import DEPTH_FORMATS, ErrorCode, FormatSupport, ResourceMiscFlag, Usage
from ...protocol.codec import STRUCT_LAYOUTS
from ..errors import CommandError, invalid, unsupported
from .formats import TYPELESS
from .objects import Texture
from .sharing import SharedSurface

SHARED_DESC = STRUCT_LAYOUTS["SharedTextureDesc"]
MAX_SHARED_SURFACES = 64  # shared textures (created or opened) one guest may hold


class SharedTextureCommands:
    # --- shared resources ----------------------------------------------------------------------
    def _check_shareable(self, dimension: str, mips: int, array_size: int, sample_count: int, fmt) -> None:
        if self.share_dir is None:
            raise unsupported("shared resources are not offered by this host")
        if (dimension, mips, array_size, sample_count) != ("2d", 1, 1, 1):
            raise invalid("a shared resource is a Texture2D with one mip, one array slice and one sample (D3D11)")
        if not self.format_caps[fmt] & FormatSupport.CPU_READBACK or fmt in DEPTH_FORMATS or fmt in TYPELESS:
            raise unsupported(f"shared textures of format {fmt.name} are not offered")
        self._check_surface_room()

    def _check_surface_room(self) -> None:
        if len(self._surfaces) >= MAX_SHARED_SURFACES:
            raise CommandError(ErrorCode.COUNT_LIMIT, f"this guest already holds {MAX_SHARED_SURFACES} shared "
                                                      f"resources")

    def _hold_shared(self, tex: Texture, surface: SharedSurface) -> None:
        tex.shared = surface
        self._surfaces.setdefault(surface.handle, [surface, 0])[1] += 1
        self.shared_textures.append(tex)

    def _drop_shared(self, tex: Texture) -> None:
        self.shared_textures.remove(tex)
        self._dirty_shared.discard(tex)
        held = self._surfaces[tex.shared.handle]
        held[1] -= 1
        if held[1] == 0:
            del self._surfaces[tex.shared.handle]
            tex.shared.close()
        tex.shared = None

    def release_shared(self) -> None:
        """Let go of every shared texture (the guest's objects are gone)."""
        for tex in list(self.shared_textures):
            self._drop_shared(tex)

    def get_shared_handle(self, resource, result) -> None:
        if resource.shared is None:
            raise invalid("GetSharedHandle of a texture created without RESOURCE_MISC_SHARED")
        if result is None or len(result) < 8:
            raise invalid("the result range of GetSharedHandle needs 8 bytes")
        struct.pack_into("<Q", result, 0, resource.shared.handle)

    def open_shared_resource(self, handle, desc) -> Texture:
        if self.share_dir is None:
            raise unsupported("shared resources are not offered by this host")
        if desc is None or len(desc) < SHARED_DESC.size:
            raise invalid(f"the desc range of OpenSharedResource needs {SHARED_DESC.size} bytes")
        held = self._surfaces.get(handle)
        if held is not None:  # opened again by this session: one host mapping serves both
            surface = held[0]
        else:
            self._check_surface_room()
            surface = SharedSurface.open(self.share_dir, handle)
            if surface is None:
                raise invalid(f"no shared resource has handle {handle:#x} (never created, or released by its "
                              f"creator)")
        try:
            tex = self._create_texture("2d", surface.width, surface.height, 1, 1, 1, surface.format, 1, 0,
                                       Usage.DEFAULT, surface.bind_flags, 0, ResourceMiscFlag.SHARED, None,
                                       opened=surface)
        except BaseException:
            if held is None:
                surface.close()
            raise
        self._import_shared(tex)
        SHARED_DESC.struct.pack_into(desc, 0, *SHARED_DESC.values_to_wire(
            (surface.width, surface.height, surface.format, surface.bind_flags, ResourceMiscFlag.SHARED)))
        return tex

    def _import_shared(self, tex: Texture) -> None:
        found = tex.shared.newer(tex.shared_version)
        if found is None:
            return
        tex.shared_version, data = found
        if tex.used_generation == self.generation:
            self.submit()  # recorded work reads the old contents
        row = tex.shared.row_bytes
        self.queue.write_texture({"texture": tex.texture}, data, {"offset": 0, "bytes_per_row": row,
                                                                  "rows_per_image": tex.height},
                                 (tex.width, tex.height, 1))
        self.readback.idle = False

    def sync_shared(self) -> None:
        """Before the next commands: take in what other holders published, unless this session
        has writes of its own not yet published (they win, as the later writer)."""
        for tex in self.shared_textures:
            if tex not in self._dirty_shared:
                self._import_shared(tex)

    def _publish_shared(self) -> None:
        """Publish the shared textures this session wrote (at Flush, fences and Present)."""
        if self._dirty_shared:
            self._dirty_all()  # writers bound by cached groups must be noted again
        while self._dirty_shared:
            tex = self._dirty_shared.pop()
            pixels = self.readback.texture(self._finish(), tex.texture, 0, tex.width, tex.height,
                                           tex.bytes_per_texel)
            tex.shared_version = tex.shared.publish(pixels)
