"""The generated protocol reference page and the WGSL binding convention."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvgpu.protocol import bindings, spec
from pvgpu.protocol.bindings import binding_for, slot_for
from pvgpu.protocol.docpage import ERROR_MEANINGS, generate_protocol_doc
from pvgpu.protocol.enums import ErrorCode

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
