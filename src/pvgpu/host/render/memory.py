"""A session's GPU memory as it really lives, for the memory quota.

The object table charges a resource while the guest's id names it. GPU memory lives longer:
D3D11 views, a swap chain and the context's bindings hold their resource (the guest may
release the resource first), and a renamed buffer backing (Map(WRITE_DISCARD) of a buffer
recorded work still reads) lives until the GPU has finished that work. The ledger charges a
resource's bytes from its creation until the last holder lets go, and renamed backings until
the next completion point (`Readback.completions`), so a guest that creates a texture and a
view, releases the texture and repeats reaches its quota instead of the host's memory.

Limits (per session):
- `limit`: every byte charged here, default the object table's quota (objects.DEFAULT_MAX_BYTES).
- RENAME_BYTES_CAP: renamed backings not yet known finished; past it a whole-buffer update is
  written in place after a submit (D3D11's order kept) instead of renaming.
- CACHE_RETAIN_BYTES: memory of released resources the renderer's caches (bind groups,
  captured runs) may still reference; past it those caches are dropped.
"""

from __future__ import annotations

from typing import Callable

from ...protocol.enums import ErrorCode
from ..errors import CommandError
from ..objects import DEFAULT_MAX_BYTES

RENAME_BYTES_CAP = 256 << 20
CACHE_RETAIN_BYTES = 64 << 20


class MemoryLedger:
    def __init__(self, limit: int = DEFAULT_MAX_BYTES):
        self.limit = limit
        self.rename_cap = RENAME_BYTES_CAP
        self.held = 0  # bytes of resources alive for the guest (its ids, views, swap chains, bindings)
        self.in_flight = 0  # bytes of renamed backings that submitted or recorded work may still read
        self.orphans: set = set()  # resources the guest released that something else still holds
        self.cached_dead = 0  # bytes of released resources that caches may still reference
        self.peak = 0  # the most bytes charged at once
        self.peak_in_flight = 0
        self.completions_seen = 0
        #: called when caches must let go of released resources (CACHE_RETAIN_BYTES)
        self.on_drop_caches: list[Callable[[], None]] = []

    @property
    def total(self) -> int:
        return self.held + self.in_flight

    @property
    def retained(self) -> int:
        """Bytes of resources the guest released that views, swap chains or bindings keep alive."""
        return sum(r.charged for r in self.orphans)

    def _note_peak(self) -> None:
        self.peak = max(self.peak, self.total)

    def fits(self, nbytes: int) -> bool:
        return self.total + nbytes <= self.limit

    def charge(self, resource, nbytes: int) -> None:
        """`resource` (a Texture, Buffer or View) holds `nbytes` more."""
        resource.charged += nbytes
        self.held += nbytes
        self._note_peak()

    def free(self, resource) -> int:
        """`resource`'s memory is gone (or only caches may still reference it); its bytes."""
        nbytes, resource.charged = resource.charged, 0
        self.held -= nbytes
        return nbytes

    def renamed(self, nbytes: int) -> None:
        self.in_flight += nbytes
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._note_peak()

    def completed(self, completions: int) -> None:
        """The GPU has finished everything submitted before completion point `completions`
        (every completion point submits the recording first, so renamed backings are done)."""
        if completions != self.completions_seen:
            self.completions_seen = completions
            self.in_flight = 0

    def forget_cached(self, nbytes: int) -> bool:
        """Count released bytes caches may still hold; True when the caches must be dropped."""
        self.cached_dead += nbytes
        if self.cached_dead <= CACHE_RETAIN_BYTES:
            return False
        self.cached_dead = 0
        for drop in list(self.on_drop_caches):
            drop()
        return True

    def clear(self) -> None:
        """Every guest object is gone (reset, device lost, session end)."""
        self.held = self.in_flight = self.cached_dead = 0
        self.orphans.clear()


def texture_bytes(width: int, height: int, depth: int, mips: int, array_size: int, bytes_per_texel: int,
                  sample_count: int = 1) -> int:
    """GPU memory of a texture: every mip of every slice, times its samples."""
    total = 0
    for m in range(mips):
        total += max(1, width >> m) * max(1, height >> m) * max(1, depth >> m) * bytes_per_texel
    return total * array_size * sample_count


class MemoryTracking:
    """The renderer's side of the ledger: `Renderer` (a mixin) charges what it allocates for
    the guest, and lets go when the last holder of a resource does."""

    def _reserve(self, nbytes: int, what: str) -> None:
        """Refuse, before allocating, what would take the session past its quota (after giving
        back what released resources and finished renames no longer need)."""
        m = self.memory
        m.completed(self.readback.completions)
        if m.fits(nbytes):
            return
        self._sweep_orphans()
        if not m.fits(nbytes) and m.in_flight:
            self.readback.wait_idle(self._finish())  # renamed backings in flight are then freed
            m.completed(self.readback.completions)
        if not m.fits(nbytes):
            raise CommandError(
                ErrorCode.QUOTA,
                f"quota {m.limit} B: {what} of {nbytes} B won't fit; {m.total} B held ({m.retained} B "
                f"only views/bindings hold)")

    def _rename_room(self, nbytes: int) -> bool:
        """Whether a buffer backing of `nbytes` may be renamed now (its old one stays in flight)."""
        m = self.memory
        m.completed(self.readback.completions)
        if m.in_flight + nbytes > m.rename_cap or not m.fits(nbytes):
            return False
        m.renamed(nbytes)
        return True

    def _held_by_guest_object(self, resource) -> None:
        """A view or swap chain of `resource` was created: it keeps the memory alive."""
        resource.holders += 1

    def _let_go_by_guest_object(self, resource) -> None:
        resource.holders -= 1
        if resource.released:
            self._forget_if_unheld(resource)

    def _released(self, resource) -> None:
        """The guest released its id of `resource`; the memory goes with its last holder."""
        resource.released = True
        self.memory.orphans.add(resource)
        self._forget_if_unheld(resource)

    def _forget_if_unheld(self, resource) -> None:
        """One resource's check (a full sweep at every destroy would cost a guest holding many
        orphans quadratic time; orphans let go by a binding change are swept by `_reserve`)."""
        if resource.holders <= 0 and resource in self.memory.orphans and id(resource) not in self._bound_resources():
            self.memory.orphans.discard(resource)
            self._forget_memory(resource)

    def _sweep_orphans(self) -> None:
        m = self.memory
        if not m.orphans:
            return
        bound = self._bound_resources()
        for res in [r for r in m.orphans if r.holders <= 0 and id(r) not in bound]:
            m.orphans.discard(res)
            self._forget_memory(res)

    def _forget_memory(self, owner) -> None:
        nbytes = self.memory.free(owner)
        if getattr(owner, "used_generation", -1) >= 0:  # recorded work may have cached it (bind groups, runs)
            self.memory.forget_cached(nbytes)

    def _drop_caches(self) -> None:
        """Caches let go of every released resource they may reference (CACHE_RETAIN_BYTES)."""
        self._bind_groups.clear()
        self._stage_groups = [None, None, None]
        self._dirty_all()
        self.epoch += 1

    def _bound_resources(self) -> set[int]:
        """ids of the resources the context's state references (it holds them, as in D3D11)."""
        views = [*self.rtvs, self.dsv, *self.uavs.values(), *self._pending_clears]
        for table in self.shader_resources.values():
            views.extend(table.values())
        out = {id(v.resource) for v in views if v is not None}
        for table in self.constant_buffers.values():
            out.update(id(b) for b in table.values())
        out.update(id(b) for b, _, _ in self.vertex_buffers.values())
        if self.index_buffer is not None:
            out.add(id(self.index_buffer[0]))
        return out
