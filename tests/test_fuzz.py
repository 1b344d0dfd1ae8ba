"""The fuzz tooling (fuzz/) and short runs of its two targets.

- The recorder captures what a real guest publishes: records that decode, heap bytes equal to
  what the guest uploaded.
- The seed corpus (fuzz/corpus, recorded from the demo and the conformance scenes) and every
  minimised finding in tests/fuzz_regressions/ play through a session with the real renderer
  without a finding (fuzz/harness.py's checks).
- The mutator makes inputs that differ from the seed and stay parseable streams.
- Short atheris runs of `fuzz.decoder` and `fuzz.session` (fixed seed, fixed number of
  inputs) end cleanly with no finding and with coverage counted.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fuzz.harness import FuzzHost
from fuzz.mutate import Mutator
from fuzz.record import recording
from fuzz.stream import BATCH, HEAP, Stream, split_records
from fuzz.target import SEEDS, seed_streams
from pvgpu import guest as g
from pvgpu.protocol import codec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGRESSIONS = os.path.join(ROOT, "tests", "fuzz_regressions")


def test_recorder_captures_batches_and_heap_ranges(device):
    data = np.arange(64, dtype=np.uint8).tobytes() * 4
    with recording() as rec:
        conn = device.connection
        buf = device.create_buffer(g.BufferDesc(len(data), g.BindFlag.VERTEX_BUFFER, g.Usage.IMMUTABLE), data)
        conn.finish()
    ((_label, stream),) = list(rec.streams())
    records = [r for b in stream.batches for r in split_records(b)]
    names = [type(codec.decode(r)[1]).__name__ for r in records]
    assert "CreateBuffer" in names and names[-1] == "Fence"
    create = next(codec.decode(r)[1] for r in records if type(codec.decode(r)[1]).__name__ == "CreateBuffer")
    assert create.buffer == buf.id
    heap = [(off, d) for kind, off, d in stream.items if kind == HEAP]
    assert (create.initial_data_offset, data) in heap
    again = Stream.from_bytes(stream.to_bytes())
    assert again.items == stream.items


@pytest.mark.slow
def test_seed_corpus_and_regressions_play_without_a_finding():
    paths = sorted(glob.glob(os.path.join(SEEDS, "*.pvfz"))) + sorted(glob.glob(os.path.join(REGRESSIONS, "*.pvfz")))
    assert len(paths) >= 15
    host = FuzzHost(fresh_every=10)
    try:
        for path in paths:
            with open(path, "rb") as f:
                fed = host.run(Stream.from_bytes(f.read()))  # raises fuzz.harness.Finding
            assert fed > 0, path
        assert host.stats.executed > 2000
        assert host.stats.lost == 0
    finally:
        host.close()


def test_mutations_change_inputs_and_stay_streams():
    seeds = seed_streams()
    m = Mutator(seeds)
    data = seeds[0].to_bytes()
    changed = 0
    for seed in range(300):
        out = m.mutate(data, 1 << 17, seed)
        assert len(out) <= 1 << 17
        changed += out != data
        s = Stream.from_bytes(out)
        assert all(kind in (HEAP, BATCH) for kind, _, _ in s.items)
        mixed = m.crossover(out, seeds[1].to_bytes(), 1 << 17, seed)
        assert len(mixed) <= 1 << 17
    assert changed > 250


def _run_target(tmp_path, target: str, runs: int) -> tuple[dict, str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    stats = tmp_path / "stats.json"
    proc = subprocess.run(
        # -rss_limit_mb=0: Linux keeps ru_maxrss across exec, so libFuzzer's own limit would count
        # the pytest process this was forked from; the harness checks RSS growth itself
        [sys.executable, "-m", f"fuzz.{target}", f"-runs={runs}", "-seed=1", "-rss_limit_mb=0", "--stats", str(stats),
         "--findings", str(tmp_path / "findings"), str(corpus), SEEDS],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "FINDING" not in out, out[-3000:]
    return json.loads(stats.read_text()), out


def _coverage(out: str) -> int:
    return max(int(c) for c in re.findall(r"cov: (\d+)", out))


@pytest.mark.slow
def test_decoder_target_short_run(tmp_path):
    st, out = _run_target(tmp_path, "decoder", 2000)
    assert st["findings"] == 0
    assert st["inputs"] >= 1900
    assert st["commands"] > 100_000
    assert _coverage(out) > 50


@pytest.mark.slow
def test_session_target_short_run(tmp_path):
    st, out = _run_target(tmp_path, "session", 80)
    assert st["findings"] == 0
    assert st["inputs"] >= 74
    assert st["executed"] > 5_000
    assert _coverage(out) > 1000


def _one_record_stream(name: str, **fields) -> Stream:
    layout = codec.BY_NAME[name]
    values = tuple(fields[f.name] for f in layout.fields)
    s = Stream()
    s.batch(layout.encode(7, values))
    return s


@pytest.fixture(scope="module")
def fuzz_host():
    host = FuzzHost(fresh_every=10**6)
    yield host
    host.close()


def test_harness_finds_a_generated_handler_that_skips_a_check(fuzz_host, monkeypatch):
    from fuzz.harness import Finding
    from pvgpu.host import session as session_module
    opcode = codec.BY_NAME["SET_PRIMITIVE_TOPOLOGY"].opcode
    make = session_module.make_handlers

    def lax_handlers(renderer, session):  # one handler runs whatever it is given (its enum check lost)
        handlers = make(renderer, session)
        handlers[opcode] = lambda data, off, size, seq: True
        return handlers

    monkeypatch.setattr(session_module, "make_handlers", lax_handlers)
    fuzz_host._since_fresh = fuzz_host.fresh_every  # a new session, made with the lax handlers
    with pytest.raises(Finding) as e:
        fuzz_host.run(_one_record_stream("SET_PRIMITIVE_TOPOLOGY", topology=999))
    assert e.value.kind == "handler-check" and "SET_PRIMITIVE_TOPOLOGY" in e.value.detail
    monkeypatch.undo()
    fuzz_host._since_fresh = fuzz_host.fresh_every  # the next input gets a new session


def test_harness_finds_a_renderer_fault_and_an_unfinished_fence(fuzz_host, monkeypatch):
    from fuzz.harness import Finding
    from pvgpu.host.render.renderer import Renderer

    def broken(self, *args, **kwargs):
        raise KeyError("a host bug")

    monkeypatch.setattr(Renderer, "set_primitive_topology", broken)
    fuzz_host._since_fresh = fuzz_host.fresh_every  # a new session, whose handlers see the broken method
    with pytest.raises(Finding) as e:
        fuzz_host.run(_one_record_stream("SET_PRIMITIVE_TOPOLOGY", topology=4))
    assert e.value.kind == "internal-error" and "a host bug" in e.value.detail
    monkeypatch.undo()
    fuzz_host._since_fresh = fuzz_host.fresh_every
    fuzz_host.run(_one_record_stream("SET_PRIMITIVE_TOPOLOGY", topology=4))  # clean again
    monkeypatch.setattr(Renderer, "wait_idle", lambda self: None)
    monkeypatch.setattr(fuzz_host.session, "_complete_fences", lambda: None)
    with pytest.raises(Finding) as e:
        fuzz_host.run(_one_record_stream("SET_PRIMITIVE_TOPOLOGY", topology=4))
    assert e.value.kind == "fence"
    fuzz_host._since_fresh = fuzz_host.fresh_every
