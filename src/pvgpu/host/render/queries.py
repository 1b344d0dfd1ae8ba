"""Queries and predication on the D3D11 state tracker: EVENT, OCCLUSION, OCCLUSION_PREDICATE,
TIMESTAMP, TIMESTAMP_DISJOINT and PIPELINE_STATISTICS, and SetPredication.

`QueryCommands` is part of `Renderer` (a mixin). A D3D11 occlusion or pipeline-statistics
query spans any number of passes while WebGPU's live inside one pass, so an active query
takes one query-set slot in every pass that opens while it runs (`_queries_begin_pass`) and
its result is the sum over those slots. Results reach the guest's heap range when a fence
after End completes (`_complete_queries`).
"""

from __future__ import annotations

import struct

import numpy as np
import wgpu

from ...protocol.enums import ErrorCode, PrimitiveTopology, QUERY_RESULT_BYTES, QueryType
from ..errors import CommandError, invalid, unsupported
from .objects import Query

SLOTS = 4096  # query-set slots per kind: passes an active query may span
MAX_PENDING_QUERIES = 1024
RESOLVE_STRIDE = 256  # resolve_query_set destinations are 256-byte aligned
#: wgpu's pipeline statistics, in the order a resolved slot holds them (their enum order).
STATISTICS = ("vertex-shader-invocations", "clipper-invocations", "clipper-primitives-out",
              "fragment-shader-invocations", "compute-shader-invocations")
_SPANNING = (QueryType.OCCLUSION, QueryType.OCCLUSION_PREDICATE, QueryType.PIPELINE_STATISTICS)


def _primitives(elements: int, topology: int) -> int:
    """Primitives the input assembler makes of `elements` vertices (or indices)."""
    if topology == PrimitiveTopology.TRIANGLELIST:
        return elements // 3
    if topology == PrimitiveTopology.TRIANGLESTRIP:
        return max(0, elements - 2)
    if topology == PrimitiveTopology.LINELIST:
        return elements // 2
    if topology == PrimitiveTopology.LINESTRIP:
        return max(0, elements - 1)
    return elements


class QueryCommands:
    """Query commands of the Renderer (see the module docstring)."""

    def _init_queries(self, features: frozenset[str]) -> None:
        d = self.device
        self._occlusion_set = d.create_query_set(type="occlusion", count=SLOTS)
        self._timestamp_set = None
        if {"timestamp-query", "timestamp-query-inside-encoders"} <= set(features):
            self._timestamp_set = d.create_query_set(type="timestamp", count=1)
        self._statistics_set = None
        if "pipeline-statistics-query" in features:
            self._statistics_set = d._create_statistics_query_set("pvgpu-statistics", SLOTS, list(STATISTICS))
        self._next_slot = {QueryType.OCCLUSION: 0, QueryType.PIPELINE_STATISTICS: 0}
        self._forget_queries()

    def _forget_queries(self) -> None:
        self._active: dict[QueryType, Query] = {}  # OCCLUSION (also predicates) and PIPELINE_STATISTICS
        self._pass_queries: list[QueryType] = []  # those begun in the open pass
        self._pending_queries: list = []

    @staticmethod
    def _family(t: int) -> QueryType:
        return QueryType.OCCLUSION if t == QueryType.OCCLUSION_PREDICATE else QueryType(t)

    # --- passes ------------------------------------------------------------------------------------
    def _check_query_room(self) -> None:
        for q in self._active.values():
            if len(q.slots) >= SLOTS:
                raise CommandError(ErrorCode.COUNT_LIMIT, f"a {QueryType(q.type).name} query may span at most "
                                                          f"{SLOTS} passes")

    def _queries_begin_pass(self, p, render: bool) -> None:
        """Start the active queries' counting in a pass that has just begun."""
        for family, q in self._active.items():
            if family == QueryType.OCCLUSION and not render:
                continue
            slot = self._next_slot[family]
            self._next_slot[family] = (slot + 1) % SLOTS
            if family == QueryType.OCCLUSION:
                p.begin_occlusion_query(slot)
            else:
                p._begin_pipeline_statistics_query(self._statistics_set, slot)
            q.slots.append(slot)
            self._pass_queries.append(family)

    def _queries_end_pass(self, p) -> None:
        for family in self._pass_queries:
            if family == QueryType.OCCLUSION:
                p.end_occlusion_query()
            else:
                p._end_pipeline_statistics_query()
        self._pass_queries = []

    @property
    def _occlusion_query_set(self):
        """The query set a render pass that opens now needs (None without an occlusion query)."""
        return self._occlusion_set if QueryType.OCCLUSION in self._active else None

    # --- commands ------------------------------------------------------------------------------------
    def create_query(self, type) -> Query:
        t = QueryType(type)
        if t == QueryType.PIPELINE_STATISTICS and self._statistics_set is None:
            raise unsupported("pipeline-statistics queries need the host's pipeline-statistics-query feature "
                              "(see PIPELINE_STATISTICS_QUERIES)")
        if t == QueryType.TIMESTAMP and self._timestamp_set is None:
            raise unsupported("timestamp queries need the host's timestamp-query features (see TIMESTAMP_QUERIES)")
        return Query(t)

    def begin_query(self, query) -> None:
        if query.type in (QueryType.EVENT, QueryType.TIMESTAMP):
            raise invalid(f"Begin is not used with {QueryType(query.type).name} queries (only End)")
        if query.active:
            raise invalid("the query is already active (Begin twice without End)")
        if query.type in _SPANNING:
            family = self._family(query.type)
            if family in self._active:
                raise unsupported(f"only one {family.name.lower().replace('_', '-')} query can be active at a time")
            self._end_pass()  # the next pass opens with the query running
            self._active[family] = query
            query.slots = []
            query.ia_counts = [0, 0]
        query.active = True

    def end_query(self, query, result) -> None:
        t = QueryType(query.type)
        if result is None or len(result) < QUERY_RESULT_BYTES[t]:
            raise invalid(f"the result range of a {t.name} query needs {QUERY_RESULT_BYTES[t]} bytes")
        if (t in _SPANNING or t == QueryType.TIMESTAMP_DISJOINT) and not query.active:
            raise invalid(f"End of a {t.name} query that was not begun")
        query.active = False
        query.ended = True
        query.value = None
        resolved = None
        if t in _SPANNING:
            self._end_pass()
            family = self._family(t)
            del self._active[family]
            query_set = self._occlusion_set if family == QueryType.OCCLUSION else self._statistics_set
            if query.slots:
                resolved = self.device.create_buffer(size=RESOLVE_STRIDE * len(query.slots),
                                                     usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
                for i, slot in enumerate(query.slots):
                    self.encoder.resolve_query_set(query_set, slot, 1, resolved, RESOLVE_STRIDE * i)
        elif t == QueryType.TIMESTAMP:
            self._materialize_clears()
            self._end_pass()
            resolved = self.device.create_buffer(size=RESOLVE_STRIDE, usage=wgpu.BufferUsage.QUERY_RESOLVE |
                                                 wgpu.BufferUsage.COPY_SRC)
            self.encoder._write_timestamp(self._timestamp_set, 0)
            self.encoder.resolve_query_set(self._timestamp_set, 0, 1, resolved, 0)
        self._pending_queries.append((query, resolved, len(query.slots), result, tuple(query.ia_counts)))
        if len(self._pending_queries) >= MAX_PENDING_QUERIES:
            self.wait_idle()  # a guest that ends queries without ever fencing must not pile them up

    def _count_input_assembly(self, elements: int, instances: int, topology: int) -> None:
        """An active PIPELINE_STATISTICS query counts what the input assembler reads, from the
        draw's own arguments (WebGPU has no such counter; indirect draws' counts stay on the
        GPU and are not counted)."""
        query = self._active.get(QueryType.PIPELINE_STATISTICS)
        if query is not None:
            query.ia_counts[0] += elements * instances
            query.ia_counts[1] += _primitives(elements, topology) * instances

    def _drop_active_query(self, query) -> None:
        """A released query stops counting (D3D11 drops it)."""
        family = self._family(query.type)
        if self._active.get(family) is query:
            self._end_pass()
            del self._active[family]

    def _complete_queries(self) -> None:
        """Write the results of ended queries (their work is finished) into the guest's ranges."""
        pending, self._pending_queries = self._pending_queries, []
        for query, resolved, count, result, (ia_vertices, ia_primitives) in pending:
            t = query.type
            width = len(STATISTICS) if t == QueryType.PIPELINE_STATISTICS else 1
            sums = np.zeros(width, dtype=np.uint64)
            if resolved is not None:
                raw = self.readback.buffer([], resolved, 0, resolved.size)
                for i in range(max(count, 1)):
                    sums += raw[i * RESOLVE_STRIDE:i * RESOLVE_STRIDE + 8 * width].view(np.uint64)
            value = int(sums[0])
            if t == QueryType.EVENT:
                struct.pack_into("<I", result, 0, 1)
            elif t == QueryType.OCCLUSION_PREDICATE:
                struct.pack_into("<I", result, 0, int(value > 0))
            elif t in (QueryType.OCCLUSION, QueryType.TIMESTAMP):
                struct.pack_into("<Q", result, 0, value)
            elif t == QueryType.PIPELINE_STATISTICS:
                vs, clipped_in, clipped_out, ps, cs = (int(v) for v in sums)
                # D3D11_QUERY_DATA_PIPELINE_STATISTICS; no geometry, hull or domain stages here.
                struct.pack_into("<11Q", result, 0, ia_vertices, ia_primitives, vs, 0, 0, clipped_in, clipped_out, ps,
                                 0, 0, cs)
            else:  # TIMESTAMP_DISJOINT: wgpu timestamps count nanoseconds
                struct.pack_into("<QI", result, 0, 1_000_000_000, 0)
            query.value = value

    def set_predication(self, predicate, value) -> None:
        """D3D11 lets the GPU decide; wgpu has no conditional rendering, so the host waits for
        the predicate's result here and the session skips predicated commands while it holds."""
        if predicate is None:
            self.predicated = False
            return
        if predicate.type != QueryType.OCCLUSION_PREDICATE:
            raise invalid(f"SetPredication takes an OCCLUSION_PREDICATE query, not {QueryType(predicate.type).name}")
        if predicate.active:
            raise invalid("SetPredication with a predicate between its Begin and End")
        if not predicate.ended:
            self.predicated = False  # no result to go by: D3D11 draws
            return
        if predicate.value is None:
            self.wait_idle()
        self.predicated = predicate.value is not None and (predicate.value > 0) == bool(value)
