"""A short fuzz of load + to_wgsl with mutated corpus blobs (re-checksummed so that they get
past the checksum): every outcome is a translation wgpu accepts or a ShaderError, never
another exception. The long run (a million cases) is a benchmark, not a test."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pvgpu.shaders import container, translate
from pvgpu.shaders.errors import ShaderError

CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "dxbc"))
CASES = 600


def test_mutated_blobs_translate_or_are_refused(wgpu_device):
    files = sorted(CORPUS.glob("*/*.dxbc"))
    if not files:
        pytest.skip(f"the DXBC corpus {CORPUS} is absent (see ../shared/dxbc/README.md)")
    blobs = [f.read_bytes() for f in files]
    rng = random.Random(8)
    translated, failures = 0, []
    for case in range(CASES):
        data = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(32, len(data))] ^= 1 << rng.randrange(8)
        data = container.with_checksum(bytes(data))
        try:
            source = translate.to_wgsl(translate.load(data))
        except ShaderError:
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            failures.append(f"case {case}: {type(e).__name__}: {e}")
            continue
        translated += 1
        try:
            wgpu_device.create_shader_module(code=source)
        except Exception as e:  # noqa: BLE001
            failures.append(f"case {case}: wgpu refused the translation: {str(e)[:300]}")
    assert not failures, "\n".join(failures[:10])
    assert translated > CASES // 10
