"""Doubles (given the host's "shader-f64" and "shader-int64"): vkd3d's double rows
(tests/shaders/data/vkd3d_instructions.json, is_float64) run through the translator with
those features on a device that has them, bit-exact against vkd3d's values; without the
features every doubles shader is refused naming its first double instruction and offset."""

from __future__ import annotations

import re
import struct

import pytest

from pvgpu.shaders import translate
from pvgpu.shaders.assembler import assemble
from pvgpu.shaders.errors import ShaderUnsupported
from pvgpu.shaders.specialization import Specialization

from . import test_vkd3d_instructions as vk

FEATURES = ["shader-f64", "shader-int64"]
SPEC = Specialization(features=frozenset(FEATURES))
ROWS = [r for r in vk.ROWS if r.get("is_float64")]


def _have() -> bool:
    from pvgpu.host import gpu
    return set(FEATURES) <= set(gpu.adapter().features)


@pytest.fixture(scope="module")
def results() -> dict:
    if not vk.CORPUS.is_dir():
        pytest.skip(f"the DXBC corpus is absent ({vk.CORPUS})")
    if not _have():
        pytest.skip(f"the adapter lacks {FEATURES}")
    by_shader: dict[str, list[dict]] = {}
    for r in ROWS:
        by_shader.setdefault(r["blob"], []).append(r)
    jobs = []
    for name, rows in by_shader.items():
        wgsl = translate.to_wgsl(translate.load((vk.CORPUS / f"{name}.dxbc").read_bytes()), SPEC)
        jobs.append({"name": name, "wgsl": wgsl, "entry": vk._fragment_entry(wgsl), "format": rows[0]["format"],
                     "cbs": [b"".join(struct.pack("<I", int(w, 16)) for w in r["cb0"]).hex() for r in rows],
                     "ids": [r["id"] for r in rows]})
    rendered = vk._run_child(jobs, FEATURES, vk.BATCH_TIMEOUT_S)
    out = {}
    for job in jobs:
        res = rendered.get(job["name"], {"error": f"no result: {str(rendered)[:2000]}"})
        for i, rid in enumerate(job["ids"]):
            out[rid] = res if isinstance(res, dict) else res[i]
    return out


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_vkd3d_double_row(row, results):
    got = results[row["id"]]
    assert not isinstance(got, dict), got
    expected = [int(w, 16) for w in row["expected"]]
    assert row["compare"] == "exact"
    assert [f"{x:08x}" for x in got] == [f"{x:08x}" for x in expected], (row["shader"], row["cb0"][:4])


@pytest.mark.parametrize("row", ROWS[:1] + [r for r in ROWS if r["shader"] in ("dtoi", "utod")])
def test_doubles_refused_without_the_features(row):
    if not vk.CORPUS.is_dir():
        pytest.skip("the DXBC corpus is absent")
    shader = translate.load((vk.CORPUS / f"{row['blob']}.dxbc").read_bytes())
    for features in (frozenset(), frozenset({"shader-f64"})):
        with pytest.raises(ShaderUnsupported, match=r"^\w*(d[a-z]+|[iuf]tod): doubles needs the host's wgpu "
                                                    r"feature 'shader-(f64|int64)'.*\(at token \d+\)"):
            translate.to_wgsl(shader, Specialization(features=features))


@pytest.fixture(scope="module")
def wgpu_device_f64():
    from pvgpu.host import gpu
    if not _have():
        pytest.skip(f"the adapter lacks {FEATURES}")
    return gpu.adapter().request_device_sync(required_features=FEATURES)


EDGE_PS = """
// out: SV_Target 0 xyzw o0 uint
// out: SV_Target 1 xyzw o1 uint
ps_5_0
dcl_constantbuffer cb0[2], immediateIndexed
dcl_output o0.xyzw
dcl_output o1.xyzw
dcl_temps 2
OPS
mov o0.xyzw, r0.xyzw
mov o1.xyzw, r1.xyzw
ret
"""


def _words(*doubles: float) -> list[int]:
    out = []
    for d in doubles:
        lo, hi = struct.unpack("<II", struct.pack("<d", d))
        out += [lo, hi]
    return out


def _double(lo: int, hi: int) -> float:
    return struct.unpack("<d", struct.pack("<II", lo, hi))[0]


def test_double_edges(wgpu_device_f64):
    """NaN through dmul and dmin, dtoi/dtou clamping, and each half of a .xyzw destination
    from its own source pair. (Not subnormal results: lavapipe flushes them in fragment
    shaders, which no WGSL can ask it not to.)"""
    from .harness import render
    ops = "\n".join([
        "dmul r0.xyzw, cb0[0].xyzw, cb0[1].zwxy",
        "dmin r1.xy, cb0[1].xyxy, cb0[0].zwzw",
        "dtoi r1.z, cb0[1].zwzw",
        "dtou r1.w, cb0[1].zwzw",
    ])
    shader = translate.load(assemble(EDGE_PS.replace("OPS", ops)))
    wgsl = translate.to_wgsl(shader, SPEC)
    nan = [0x00000001, 0x7ff00000]  # a signalling NaN payload
    cb = _words(1.5e-300, 3.0) + nan + _words(-3e9)
    out = render(wgpu_device_f64, wgsl, constant_buffers={0: cb}, size=(1, 1))
    o0, o1 = (list(map(int, out[k][0, 0])) for k in (0, 1))
    assert [o0[0], o0[1]] == _words(1.5e-300 * -3e9)
    assert (o0[3] & 0x7ff00000) == 0x7ff00000 and (o0[3] & 0xFFFFF or o0[2])  # 3.0 * NaN: a NaN
    assert o1[0:2] == _words(3.0)  # dmin(NaN, 3.0): the other operand
    assert o1[2] == 0x80000000 and o1[3] == 0  # -3e9: clamped
