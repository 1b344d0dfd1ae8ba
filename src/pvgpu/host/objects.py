"""Per-guest object table: guest ids mapped to host objects, checked for kind and liveness,
with quotas on how many objects and how much GPU memory a guest may hold.

An object may own others (a swap chain its back buffer): they are created by the same command,
are freed with their owner, and cannot be destroyed on their own."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..protocol.enums import ErrorCode, ObjectKind
from .errors import CommandError

DEFAULT_MAX_OBJECTS = 65536
DEFAULT_MAX_BYTES = 2 << 30


@dataclass(slots=True)
class Entry:
    kind: ObjectKind
    obj: Any
    nbytes: int
    owner: int = 0  # the id of the object this one belongs to (0: none)
    owned: tuple[int, ...] = ()  # the ids of the objects that belong to this one


class ObjectTable:
    def __init__(self, max_objects: int = DEFAULT_MAX_OBJECTS, max_bytes: int = DEFAULT_MAX_BYTES):
        self.entries: dict[int, Entry] = {}
        self.max_objects = max_objects
        self.max_bytes = max_bytes
        self.bytes = 0
        # ids that were alive once, to tell "dead" from "never": the latest max_objects of them
        # (a guest cycling through fresh ids must not grow the host's memory), insertion-ordered
        self._retired: OrderedDict[int, None] = OrderedDict()

    def get(self, object_id: int, kinds: tuple, field: str) -> Any:
        entry = self.entries.get(object_id)
        if entry is None:
            if object_id in self._retired:
                raise CommandError(ErrorCode.DEAD_ID, f"{field}: object {object_id} was already destroyed")
            raise CommandError(ErrorCode.DEAD_ID, f"{field}: no object has id {object_id}")
        if entry.kind not in kinds:
            want = "/".join(ObjectKind(k).name for k in kinds)
            raise CommandError(ErrorCode.WRONG_KIND,
                               f"{field}: object {object_id} is a {entry.kind.name}, expected {want}")
        return entry.obj

    def check_new(self, object_id: int, field: str) -> None:
        if object_id == 0:
            raise CommandError(ErrorCode.ID_IN_USE, f"{field}: 0 is not a valid object id")
        if object_id in self.entries:
            raise CommandError(ErrorCode.ID_IN_USE,
                               f"{field}: id {object_id} is already a live {self.entries[object_id].kind.name}")
        if len(self.entries) >= self.max_objects:
            raise CommandError(ErrorCode.QUOTA, f"{field}: this guest already holds {self.max_objects} objects")

    def check_room(self, nbytes: int, what: str) -> None:
        """Refuse, before anything is allocated, a creation that would exceed the memory quota."""
        if nbytes and self.bytes + nbytes > self.max_bytes:
            raise CommandError(ErrorCode.QUOTA, f"{what} of about {nbytes} bytes would exceed this guest's GPU "
                                                f"memory quota ({self.bytes} of {self.max_bytes} bytes in use)")

    def add(self, object_id: int, kind: ObjectKind, obj: Any) -> None:
        nbytes = int(getattr(obj, "nbytes", 0))
        if self.bytes + nbytes > self.max_bytes:
            raise CommandError(ErrorCode.QUOTA, f"object {object_id} ({nbytes} bytes) would exceed this guest's "
                                                f"GPU memory quota of {self.max_bytes} bytes")
        self.entries[object_id] = Entry(kind, obj, nbytes)
        self._retired.pop(object_id, None)
        self.bytes += nbytes

    def own(self, owner_id: int, owned_id: int) -> None:
        """`owned_id` belongs to `owner_id` from now on (both alive)."""
        owner = self.entries[owner_id]
        owner.owned += (owned_id,)
        self.entries[owned_id].owner = owner_id

    def check_destroyable(self, object_id: int, field: str) -> None:
        """Refuse destroying an object another one owns (it goes with its owner)."""
        entry = self.entries[object_id]
        if entry.owner:
            owner = self.entries[entry.owner]
            raise CommandError(ErrorCode.INVALID_CALL,
                               f"{field}: object {object_id} belongs to {owner.kind.name} {entry.owner} "
                               f"and is destroyed with it")

    def remove(self, object_id: int) -> Entry:
        """Free `object_id` alone (its owned objects: `remove_with_owned`)."""
        entry = self.entries.pop(object_id)
        self.bytes -= entry.nbytes
        retired = self._retired
        retired[object_id] = None
        if len(retired) > self.max_objects:
            retired.popitem(last=False)
        return entry

    def remove_with_owned(self, object_id: int) -> list[Entry]:
        """Free `object_id` and every object it owns; returns their entries, the owner's first."""
        entry = self.remove(object_id)
        removed = [entry]
        for owned_id in entry.owned:
            if owned_id in self.entries:
                removed.append(self.remove(owned_id))
        return removed

    def clear(self) -> None:
        """Free everything (a reset, a lost device, the end): ids are then simply unknown."""
        self.entries.clear()
        self._retired.clear()
        self.bytes = 0
