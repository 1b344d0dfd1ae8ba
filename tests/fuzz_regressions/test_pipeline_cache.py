"""A guest program that resets its session (a VM's next guest program) or destroys its shaders leaves every
pipeline built from them in the renderer's cache, until MAX_CACHED_PIPELINES (4096) cleared it (before Renderer.drop_pipelines at a reset).
Each pipeline holds lavapipe's compiled code: replaying the blend scene's recorded stream with a
reset before each play adds its 20 pipelines and about 3.3 MiB of RSS per play (2400 pipelines,
+400 MiB after 120 plays). Pipelines keyed by shader serials that no longer exist can never be
used again."""

from __future__ import annotations

import glob
import os

import pytest

from fuzz.harness import FuzzHost
from fuzz.stream import Stream
from fuzz.target import SEEDS


@pytest.mark.slow
def test_pipelines_of_a_reset_guest_are_dropped():
    with open(glob.glob(os.path.join(SEEDS, "blend-*.pvfz"))[0], "rb") as f:
        stream = Stream.from_bytes(f.read())
    host = FuzzHost(fresh_every=10**9)
    try:
        host.run(stream)
        one_play = len(host.session.renderer._pipelines)
        assert one_play > 0
        for _ in range(10):
            host.run(stream)  # fuzz.harness resets the session (GuestState.RESET) before each input
        assert len(host.session.renderer._pipelines) <= one_play
    finally:
        host.close()
