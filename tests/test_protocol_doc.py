"""The generated protocol reference page (the guest-driver contract) and the WGSL binding convention."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pvgpu.protocol import bindings, layout, spec
from pvgpu.protocol.bindings import binding_for, slot_for
from pvgpu.protocol.codec import HEADER, PAD_OPCODE, RECORD_ALIGN
from pvgpu.protocol.docpage import (BLOCKS, CONTROL_WRITERS, ERROR_MEANINGS, FEATURE_MEANINGS, contract_files,
                                    contract_values, generate_protocol_doc, render_contract)
from pvgpu.protocol.enums import ErrorCode, Feature
from pvgpu.transport import ivshmem
from pvgpu.transport.ring import RingWriter

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def test_committed_doc_is_current() -> None:
    assert COMMITTED.read_text() == generate_protocol_doc(), (
        "docs/protocol.md is out of date with the spec; regenerate it from "
        "pvgpu.protocol.docpage.generate_protocol_doc()")


def test_every_command_has_a_section() -> None:
    doc = generate_protocol_doc()
    for cmd in spec.COMMANDS:
        assert f"\n### {cmd.name}\n\nOpcode {cmd.opcode}. " in doc, cmd.name


def test_every_error_code_is_explained() -> None:
    assert set(ERROR_MEANINGS) == set(ErrorCode)
    assert all(ERROR_MEANINGS.values())


def test_every_control_field_has_one_writer() -> None:
    assert set(CONTROL_WRITERS) == {f.name for f in layout.CONTROL_FIELDS}
    assert all(w.split()[0].rstrip(",") in ("host", "guest") for w in CONTROL_WRITERS.values()), CONTROL_WRITERS


def test_every_feature_bit_is_explained() -> None:
    assert set(FEATURE_MEANINGS) == set(Feature)
    doc = generate_protocol_doc()
    for f in Feature:
        assert f"| 0x{int(f):X} | `{f.name}` |" in doc, f.name


def test_written_sections_are_in_the_page_with_their_values_filled_in() -> None:
    doc = generate_protocol_doc()
    used_values, used_blocks = set(), set()
    for path in contract_files():
        text = path.read_text()
        used_values |= set(re.findall(r"\{\{([A-Za-z0-9_]+)\}\}", text))
        used_blocks |= set(re.findall(r"^\{\{>([a-z0-9_]+)\}\}$", text, re.M))
        for heading in re.findall(r"^(##+ .+)$", text, re.M):
            assert f"\n{heading}\n" in doc, heading
    assert "{{" not in doc
    assert used_values <= set(contract_values())
    assert used_blocks == set(BLOCKS)
    for title in ("Region layout", "Handshake", "Reset", "Command ring", "Memory ordering",
                  "Doorbells and interrupts", "Heap", "Fences", "Errors", "Device status and device-lost",
                  "Object ids and quotas", "Map rules", "Feature bits", "Versioning"):
        assert re.search(rf"^##+ {re.escape(title)}$", doc, re.M), title


def test_an_unknown_value_or_block_is_an_error() -> None:
    with pytest.raises(KeyError, match="NOPE"):
        render_contract("a {{NOPE}} b", contract_values(), "x.md")
    with pytest.raises(KeyError, match="nope"):
        render_contract("{{>nope}}", contract_values(), "x.md")


def test_stated_region_limits_are_the_planners() -> None:
    v = {k: int(x) for k, x in contract_values().items() if x.isdigit()}
    big = 1 << 30
    layout.RegionLayout.plan(big, v["MIN_RING_SIZE"])
    with pytest.raises(ValueError):
        layout.RegionLayout.plan(big, v["MIN_RING_SIZE"] // 2)
    ring = layout.DEFAULT_RING_SIZE
    plan = layout.RegionLayout.plan(layout.CONTROL_PAGE_SIZE + ring + v["MIN_HEAP_SIZE"], ring)
    assert plan.heap_size == v["MIN_HEAP_SIZE"] and plan.ring_offset == layout.CONTROL_PAGE_SIZE
    with pytest.raises(ValueError):
        layout.RegionLayout.plan(layout.CONTROL_PAGE_SIZE + ring + v["MIN_HEAP_SIZE"] - 1, ring)
    assert contract_values()["DOORBELL_VALUE"] == f"0x{(ivshmem.HOST_PEER_ID << 16) | 0:08X}"


def test_half_ring_records_always_fit_with_their_pad() -> None:
    """The page's argument for the half-ring limit: in an empty ring, at any record-aligned
    offset, a record of up to half the ring fits together with the PAD before it (the writer
    never waits for room the host could not give), and a larger one is refused."""
    size = 1024
    for start in range(0, size, RECORD_ALIGN):
        for n in range(RECORD_ALIGN, size // 2 + 1, RECORD_ALIGN):
            positions = np.zeros(2, dtype=np.uint64)
            positions[:] = start  # producer == consumer: an empty ring, `start` bytes into a lap
            ring = memoryview(bytearray(size))

            def no_room(target: int) -> None:
                raise AssertionError(f"record of {n} at offset {start} waited for position {target}")
            w = RingWriter(ring, positions, 0, 1, no_room)
            off = w.reserve(n)
            if n > size - start:
                assert off == 0 and w.cursor == start + (size - start)
                assert HEADER.unpack_from(ring, start)[:3] == (PAD_OPCODE, 0, size - start)
            else:
                assert off == start
    w = RingWriter(memoryview(bytearray(size)), np.zeros(2, dtype=np.uint64), 0, 1, lambda t: None)
    with pytest.raises(Exception, match="half"):
        w.reserve(size // 2 + RECORD_ALIGN)


def test_binding_constants() -> None:
    assert (bindings.CB_BINDING_BASE, bindings.SAMPLER_BINDING_BASE, bindings.SRV_BINDING_BASE) == (0, 16, 32)
    assert binding_for("constant_buffer", 13) == 13
    assert binding_for("sampler", 0) == 16
    assert binding_for("shader_resource", 5) == 37


def test_bindings_round_trip() -> None:
    seen = set()
    for kind, limit in (("constant_buffer", spec.MAX_CONSTANT_BUFFERS), ("sampler", spec.MAX_SAMPLERS),
                        ("shader_resource", spec.MAX_SHADER_RESOURCES),
                        ("unordered_access", spec.MAX_UNORDERED_ACCESS_VIEWS)):
        for slot in range(limit):
            b = binding_for(kind, slot)
            assert slot_for(b) == (kind, slot)
            seen.add(b)
    for b in range(-1, max(seen) + 2):
        if b not in seen:
            with pytest.raises(ValueError):
                slot_for(b)
    assert {14, 15, -1, max(seen) + 1}.isdisjoint(seen)


@pytest.mark.parametrize("kind, slot", [
    ("constant_buffer", -1), ("constant_buffer", spec.MAX_CONSTANT_BUFFERS), ("sampler", spec.MAX_SAMPLERS),
    ("shader_resource", spec.MAX_SHADER_RESOURCES), ("texture", 0),
])
def test_binding_for_rejects(kind: str, slot: int) -> None:
    with pytest.raises(ValueError):
        binding_for(kind, slot)


@pytest.mark.slow
def test_contract_statements_hold_on_a_real_host(device) -> None:
    """What the page says about fences, ids, heap offsets and features, checked on a host."""
    from pvgpu.protocol.enums import BindFlag, Usage
    conn = device.connection
    region = conn.region
    assert conn.accepted_features == region.get("requested_features") & region.get("offered_features")

    def sync() -> list:
        conn.wait_fence(conn.fence())
        return [(e.code, e.opcode, e.sequence) for e in conn.host_errors()]

    def create(object_id: int, off: int = 0, size: int = 0) -> int:
        return conn.emit("CREATE_BUFFER", buffer=object_id, byte_width=64, usage=Usage.DEFAULT,
                         bind_flags=BindFlag.VERTEX_BUFFER, cpu_access_flags=0, misc_flags=0,
                         structure_byte_stride=0, initial_data_offset=off, initial_data_size=size)

    fence_op = spec.BY_NAME["FENCE"].opcode
    create_op = spec.BY_NAME["CREATE_BUFFER"].opcode
    done = conn.completed_fence
    seq = conn.emit_fence(done)  # not above the last accepted value
    assert sync() == [(ErrorCode.INVALID_CALL, fence_op, seq)]
    create(700)
    conn.emit("DESTROY_OBJECT", object=700)
    create(700)  # an id is free again at once after DESTROY_OBJECT
    seq = create(0)
    assert sync() == [(ErrorCode.ID_IN_USE, create_op, seq)]
    off = conn.reserve_heap(256)
    create(701, off + 3, 64)  # the host needs no heap alignment
    seq = create(702, region.get("heap_size") - 32, 64)
    assert sync() == [(ErrorCode.HEAP_RANGE, create_op, seq)]
    assert region.get("ring_consumer") == region.get("ring_producer")
    assert region.get("fence_completed") == region.get("fence_submitted") == conn.last_fence
