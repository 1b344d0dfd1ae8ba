"""Every corpus VS/PS/CS blob that uses resources (t#, s#, u#, g#) translates to WGSL that
wgpu accepts, or is refused for a reason pvgpu states: the refusals of the resource writer
are counted by reason and must be ones it documents (not a crash, not WGSL that wgpu
rejects). Reads ../shared/dxbc (or $PVGPU_DXBC_CORPUS); skipped, saying so, when absent."""

from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import pytest

from pvgpu.shaders import translate
from pvgpu.shaders.errors import ShaderError

CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "dxbc"))
RESOURCE_OPS = {
    "sample", "sample_l", "sample_b", "sample_d", "sample_c", "sample_c_lz", "gather4", "gather4_c", "gather4_po",
    "gather4_po_c", "ld", "ld_ms", "resinfo", "sampleinfo", "samplepos", "lod", "bufinfo", "ld_raw", "ld_structured",
    "store_raw", "store_structured", "ld_uav_typed", "store_uav_typed", "sync", "dcl_resource", "dcl_sampler",
    "dcl_resource_raw", "dcl_resource_structured", "dcl_uav_raw", "dcl_uav_structured", "dcl_uav_typed",
    "dcl_tgsm_raw", "dcl_tgsm_structured"}
#: what the resource writer refuses on purpose (message patterns)
DOCUMENTED = (
    r"atomics on typed texture UAV u\d+ \(WGSL has no storage-texture atomics\)",
    r"UAV counters \(append/consume buffers\) are not offered",
    r"the render target's sample count \(rasterizer operand\)",
    r"resource dimension texture2dmsarray is not offered",
)


def _blobs() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the DXBC corpus is not at {CORPUS} (set PVGPU_DXBC_CORPUS)")
    return sorted(CORPUS.glob("*/*.dxbc"))


def _uses_resources(shader: translate.DxbcShader) -> bool:
    return any(i.name in RESOURCE_OPS or "atomic" in i.name for i in shader.program.instructions)


def test_corpus_resource_shaders_translate_and_wgpu_accepts_them(wgpu_device):
    counts: collections.Counter = collections.Counter()
    refused: collections.Counter = collections.Counter()
    rejected: list[str] = []
    for path in _blobs():
        try:
            shader = translate.load(path.read_bytes())
        except ShaderError:
            continue  # stages and models pvgpu does not take: the container's tests cover them
        if not _uses_resources(shader):
            continue
        counts["with resources"] += 1
        try:
            wgsl = translate.to_wgsl(shader)
        except ShaderError as e:
            refused[re.sub(r"\d+", "#", e.message)] += 1
            if any(re.search(p, e.message) for p in DOCUMENTED):
                counts["refused by the resource writer"] += 1
            else:
                counts["refused elsewhere"] += 1
            continue
        try:
            wgpu_device.create_shader_module(code=wgsl)
            counts["accepted"] += 1
        except Exception as e:  # noqa: BLE001  (wgpu's validation error, reported below)
            rejected.append(f"{path.name}: {str(e).strip().splitlines()[-1][:200]}")
    report = "\n".join(f"{n:4d}  {why}" for why, n in refused.most_common())
    print(f"\n{dict(counts)}\nrefused:\n{report}")
    assert not rejected, "wgpu rejected translated WGSL:\n" + "\n".join(rejected)
    assert counts["with resources"] >= 160
    assert counts["accepted"] >= counts["with resources"] - 40
    assert counts["refused by the resource writer"] <= 9, report


def test_mutated_resource_shaders_are_refused_cleanly_or_accepted_by_wgpu(wgpu_device):
    """A short fuzz: corpus programs that use resources, a few dwords mutated, re-containered
    (checksummed); each must translate to WGSL wgpu accepts or raise ShaderError, nothing else."""
    import random
    import struct

    from pvgpu.shaders import container
    seeds = []
    for path in _blobs():
        try:
            shader = translate.load(path.read_bytes())
        except ShaderError:
            continue
        if _uses_resources(shader):
            seeds.append(shader.blob)
    rng = random.Random(8)
    outcomes: collections.Counter = collections.Counter()
    rejected = []
    for _ in range(400):
        blob = rng.choice(seeds)
        tokens = bytearray(blob.tokens)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(2, len(tokens) // 4)
            word = struct.unpack_from("<I", tokens, 4 * i)[0]
            word ^= (1 << rng.randrange(32)) if rng.random() < 0.6 else rng.getrandbits(8)
            struct.pack_into("<I", tokens, 4 * i, word)
        try:
            wgsl = translate.to_wgsl(translate.load(container.build(bytes(tokens), blob.inputs, blob.outputs)))
        except ShaderError:
            outcomes["refused"] += 1
            continue
        outcomes["translated"] += 1
        try:
            wgpu_device.create_shader_module(code=wgsl)
        except Exception as e:  # noqa: BLE001
            rejected.append(str(e).strip().splitlines()[-1][:200])
    assert outcomes["translated"] > 20, outcomes
    assert not rejected, rejected
