"""Fuzz target (b): a session with the real renderer (wgpu on lavapipe), fed mutated streams.

Every input is played into a session over an in-process region and checked (fuzz/harness.py:
no exception escapes, no hang, control page consistent, no wgpu error let through, fences
complete, tables, caches and memory bounded). `python -m fuzz.session -max_total_time=60`
(see fuzz/target.py for the options; `--fresh-every K`, `--time-bound S` tune the harness).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pvgpu"]):
    from .harness import Finding, FuzzHost

from .mutate import Mutator
from .stream import Stream
from .target import Driver, raw_mutator, seed_streams


def _option(argv: list[str], name: str, default: float) -> float:
    if name in argv:
        i = argv.index(name)
        value = float(argv[i + 1])
        del argv[i:i + 2]
        return value
    return default


def main() -> None:
    argv = list(sys.argv)
    fresh = int(_option(argv, "--fresh-every", 500))
    bound = _option(argv, "--time-bound", 20.0)
    driver = Driver("session", argv)
    host = FuzzHost(time_bound=bound, fresh_every=fresh)

    def one_input(data: bytes) -> None:
        executed = host.stats.executed
        records = host.stats.records
        try:
            host.run(Stream.from_bytes(data))
        except Finding as f:
            host._since_fresh = host.fresh_every  # the next input gets a new session
            driver.finding(f.kind, f.detail, data)
        st = host.stats
        driver.run.extra.update(sessions=st.sessions, lost_inputs=st.lost, errors_logged=st.errors,
                                slowest_input_s=round(st.slowest, 2), rss_warm=st.rss_warm, rss_peak_sampled=st.rss_peak)
        driver.counted(st.records - records, st.executed - executed)

    driver.fuzz(one_input, Mutator(seed_streams(), raw_mutator))


if __name__ == "__main__":
    main()
