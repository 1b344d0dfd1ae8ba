"""A guest's bad shaders do not reach the host's log at ERROR (they are reported to the guest)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import wgpu

from pvgpu.host.render.compile_log import guest_compilation

ROOT = Path(__file__).resolve().parent.parent
BAD_WGSL_STREAM = ROOT / "tests" / "fuzz_regressions" / "wgpu_log_bad_wgsl.pvfz"


def test_wgpu_records_while_compiling_for_a_guest_are_demoted(caplog):
    caplog.set_level(logging.DEBUG, logger="wgpu")
    with guest_compilation():
        with guest_compilation():
            wgpu.logger.error("inner")
        wgpu.logger.warning("outer")
    wgpu.logger.error("after")
    got = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "wgpu"]
    assert got == [("DEBUG", "inner"), ("DEBUG", "outer"), ("ERROR", "after")]


def test_the_fuzzers_bad_wgsl_logs_nothing_at_error():
    """The fuzz finding, in a fresh process: a CREATE_VERTEX_SHADER whose WGSL naga refuses is
    reported to the guest only (wgpu-native logged it from the second session reset on)."""
    script = f"""
import sys
from fuzz.harness import FuzzHost
from fuzz.stream import Stream
host = FuzzHost(fresh_every=10**6)
for _ in range(3):
    host.run(Stream.from_bytes(open({str(BAD_WGSL_STREAM)!r}, "rb").read()))
print("errors logged", host.session.errors_logged)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "errors logged" in proc.stdout and "errors logged 0" not in proc.stdout
