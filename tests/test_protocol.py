"""The spec-derived codec: every command round-trips, sizes are exact, and every command
has a handler on the host (a new command is one spec entry plus one executor method)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from pvgpu.host.render.renderer import Renderer
from pvgpu.host.session import PLANS, _SPECIAL
from pvgpu.protocol import codec
from pvgpu.protocol.codec import DecodeError
from pvgpu.protocol.enums import ErrorCode
from pvgpu.protocol.spec import COMMANDS
from pvgpu.protocol.types import Meaning

WIRE_RANGES = {"u32": (0, 2**32 - 1), "i32": (-2**31, 2**31 - 1), "u64": (0, 2**64 - 1)}


def value_strategy(field):
    if field.meaning is Meaning.ENUM:
        return st.sampled_from([int(v) for v in field.enum])
    if field.meaning is Meaning.FLAGS:
        bits = [int(v) for v in field.enum]
        return st.lists(st.sampled_from(bits), max_size=len(bits)).map(lambda b: sum(set(b))) if bits else st.just(0)
    if field.meaning is Meaning.BOOL:
        return st.sampled_from([0, 1])
    if field.wire.name == "f32":
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    lo, hi = WIRE_RANGES[field.wire.name]
    return st.integers(lo, hi)


def command_strategy(layout: codec.CommandLayout):
    fields = {f.name: value_strategy(f) for f in layout.fields if f.meaning is not Meaning.COUNT}
    if layout.element is not None:
        element = st.builds(layout.element.cls, **{f.name: value_strategy(f) for f in layout.element.fields})
        fields[layout.array_attr] = st.lists(element, max_size=layout.count_field.limit)
    return st.fixed_dictionaries(fields).map(lambda kw: _build(layout, kw))


def _build(layout, kw):
    if layout.element is not None:
        kw[layout.count_field.name] = len(kw[layout.array_attr])
    return layout.cls(**kw)


ALL = [l for l in codec.LAYOUTS.values() if l.name != "PAD"]


@pytest.mark.parametrize("layout", ALL, ids=lambda l: l.name)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seq=st.integers(0, 2**64 - 1))
def test_every_command_round_trips(layout, data, seq):
    cmd = data.draw(command_strategy(layout))
    record = codec.encode(cmd, seq)
    assert len(record) % 16 == 0
    got_seq, got, size = codec.decode(record)
    assert (got_seq, size) == (seq, len(record))
    assert got == cmd


@pytest.mark.parametrize("layout", ALL, ids=lambda l: l.name)
def test_wrong_size_is_rejected(layout):
    record = bytearray(layout.record_size())
    layout.pack_into(record, 0, 5, tuple(0 if f.meaning is not Meaning.ENUM else int(next(iter(f.enum)))
                                         for f in layout.fields))
    record += bytes(16)
    struct.pack_into("<I", record, 4, len(record))
    with pytest.raises(DecodeError) as e:
        codec.decode(bytes(record))
    assert e.value.code == ErrorCode.SIZE_MISMATCH and e.value.seq == 5 and e.value.opcode == layout.opcode


def test_every_command_has_a_host_handler():
    for command in COMMANDS:
        if command.name == "PAD":
            continue
        plan = PLANS[command.opcode]
        assert command.opcode in _SPECIAL or hasattr(Renderer, plan.method), f"{command.name}: no executor method"


def test_spec_invariants():
    assert len({c.opcode for c in COMMANDS}) == len(COMMANDS)
    for layout in codec.LAYOUTS.values():
        offsets = [s.offset for s in layout.slots]
        assert offsets == sorted(offsets)
        for s in layout.slots:
            assert s.offset % s.field.wire.size == 0, f"{layout.name}.{s.field.name} is misaligned"
