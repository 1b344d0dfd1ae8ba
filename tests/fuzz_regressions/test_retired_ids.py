"""Fuzz regression: ObjectTable remembered every id ever destroyed (`_retired`, to say
"already destroyed" rather than "no object has id"), with no bound, and `clear()` (a reset, a
lost device) kept them: a guest that creates and destroys objects under fresh ids grew host
memory without limit (u32 ids: up to 2**32 entries). The set must stay within the object
quota and start empty for a new guest program."""

from __future__ import annotations

import glob
import os
import struct

import pytest

from fuzz.harness import FuzzHost
from fuzz.stream import Stream, split_records
from fuzz.target import SEEDS
from pvgpu.protocol import codec

CREATE = codec.BY_NAME["CREATE_SAMPLER_STATE"]
DESTROY = codec.BY_NAME["DESTROY_OBJECT"]


def _create_sampler_record() -> bytes:
    """A CREATE_SAMPLER_STATE record a real guest wrote (the samplers scene)."""
    for path in glob.glob(os.path.join(SEEDS, "samplers-*.pvfz")):
        with open(path, "rb") as f:
            for batch in Stream.from_bytes(f.read()).batches:
                for rec in split_records(batch):
                    if codec.read_header(rec)[0] == CREATE.opcode:
                        return rec
    raise AssertionError("no CREATE_SAMPLER_STATE in the seed corpus")


@pytest.mark.slow
def test_retired_ids_stay_bounded_and_are_forgotten_at_reset():
    template = bytearray(_create_sampler_record())
    id_at = 16 + next(s.offset for s in CREATE.slots if s.field.name == "sampler")
    host = FuzzHost(fresh_every=10**9)
    try:
        quota = host.session.objects.max_objects
        stream = Stream()
        recs = []
        for object_id in range(1, quota + 2001):
            struct.pack_into("<I", template, id_at, object_id)
            recs += [bytes(template), DESTROY.encode(object_id, (object_id,))]
        stream.batch(b"".join(recs))
        host.run(stream)
        assert host.stats.errors == 0
        assert len(host.session.objects._retired) <= quota
        host.run(Stream())  # a new guest program (the harness resets the session)
        assert len(host.session.objects._retired) == 0
    finally:
        host.close()
