"""vkd3d's shader-instruction rows: real fxc-compiled pixel shaders, run through pvgpu's
DXBC->WGSL translator on a direct wgpu device, checked against the values vkd3d's
tests/d3d12.c states (and checked on Windows drivers there).

Data: tests/shaders/data/vkd3d_instructions.json (written by data/extract_vkd3d.py).
Blobs: ../shared/dxbc/vkd3d-d3d12/<blob>.dxbc (the whole module skips, saying so, when
that corpus is absent).

Each row is one pytest parameter (id: shader-row).  All rows are rendered in one batch: one
device, one module and pipeline per shader, the row's constant buffer at its own dynamic
offset, each row drawn into its own pixel (viewport 1x1 at x = row) of one target per
format, one readback per format.  The batch runs in a child process so that a translated
shader which never terminates (a broken loop) cannot hang the suite: after a timeout the
shaders are retried one by one and the one that hangs fails its rows.

Comparison: R32G32B32A32_FLOAT rows within 2 ulps as vkd3d's compare_float measures them
(signed-magnitude order, no NaN special case); R32G32B32A32_UINT rows bit-exact.
Rows vkd3d runs only with shader doubles (is_float64) are checked against their values when
pvgpu's host devices ask for shader-f64 (pvgpu.host.gpu.device_features()); otherwise the
translator must refuse them (UNSUPPORTED, naming the opcode), which is what D3D11 does on a
device without doubles.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "vkd3d_instructions.json"
REPO = HERE.parent.parent
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc")) / "vkd3d-d3d12"

ROW_STRIDE = 256  # dynamic uniform offsets must be 256-aligned
BATCH_TIMEOUT_S = 120
ONE_SHADER_TIMEOUT_S = 30

FORMATS = {"R32G32B32A32_FLOAT": ("rgba32float", 16), "R32G32B32A32_UINT": ("rgba32uint", 16),
           "R8G8B8A8_UNORM": ("rgba8unorm", 4)}  # DXGI name: (WebGPU format, bytes per texel)

VS_WGSL = """
@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    var p = array<vec2<f32>, 3>(vec2<f32>(-1.0, -1.0), vec2<f32>(3.0, -1.0), vec2<f32>(-1.0, 3.0));
    return vec4<f32>(p[i], 0.0, 1.0);
}
"""


def _load_data() -> dict:
    with open(DATA) as f:
        return json.load(f)


DOC = _load_data()
ROWS = DOC["rows"]


def _ids(rows):
    return [r["id"] for r in rows]


# ---------------------------------------------------------------------------------------
# comparison (vkd3d's compare_float / exact)

def _ordered(bits: int) -> int:
    """vkd3d's compare_float: the float's bits as int; negative x becomes INT_MIN - x."""
    x = bits - (1 << 32) if bits & 0x80000000 else bits
    if x < 0:
        x = -(1 << 31) - x
    return x & 0xFFFFFFFF


def _float_close(got: int, expected: int, ulps: int) -> bool:
    x, y = _ordered(got), _ordered(expected)
    diff = (x - y) & 0xFFFFFFFF if x > y else (y - x) & 0xFFFFFFFF
    return diff <= ulps


def _f(bits: int) -> str:
    return repr(struct.unpack("<f", struct.pack("<I", bits))[0])


def _hlsl_summary(blob: str) -> str:
    path = CORPUS / f"{blob}.hlsl"
    if not path.exists():
        return ""
    lines = [ln.rstrip() for ln in path.read_text().splitlines() if ln.strip()]
    return "\n".join("    | " + ln for ln in lines[:30])


# ---------------------------------------------------------------------------------------
# the batch (translation here; GPU work in a child process)

def _translate(blob: bytes) -> str:
    """The WGSL the host would make: specialized on the host device's shader features."""
    from pvgpu.host.render.dxbc import base_specialization
    from pvgpu.shaders import translate

    return translate.to_wgsl(translate.load(blob), base_specialization(_host_features()))


def _fragment_entry(wgsl: str) -> str:
    m = re.search(r"@fragment\s+fn\s+(\w+)", wgsl)
    if not m:
        raise AssertionError("translated module has no @fragment entry point")
    return m.group(1)


def _run_child(jobs: list[dict], features: list[str], timeout: float) -> dict:
    """Render `jobs` in a child process; {job name: [[u32 x4] per row] or {"error": text}}."""
    payload = json.dumps({"jobs": jobs, "features": features})
    try:
        proc = subprocess.run([sys.executable, __file__, "--child"], input=payload, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "XDG_RUNTIME_DIR": os.environ.get(
                                  "XDG_RUNTIME_DIR", "/tmp")})
    except subprocess.TimeoutExpired:
        return {"__timeout__": True}
    if proc.returncode != 0:
        return {"__crash__": f"child exited {proc.returncode}: {proc.stderr[-3000:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


@lru_cache(maxsize=1)
def _host_features() -> tuple[str, ...]:
    """The wgpu features pvgpu's host asks its devices for on this adapter (doubles are
    offered only where that includes shader-f64)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    from pvgpu.host import gpu

    return tuple(sorted(gpu.device_features()))


@pytest.fixture(scope="module")
def results() -> dict:
    """{row id: ("ok", [u32 x4]) | ("error", message) | ("refused", ShaderUnsupported)}."""
    if not CORPUS.is_dir():
        pytest.skip(f"the DXBC corpus is absent ({CORPUS}); these tests read ../shared/dxbc/vkd3d-d3d12")
    want = [f for f in ("shader-f64", "shader-int64") if f in _host_features()]
    by_shader: dict[str, list[dict]] = {}
    for r in ROWS:
        by_shader.setdefault(r["blob"], []).append(r)
    out: dict[str, tuple] = {}
    jobs = []
    for name, rows in by_shader.items():
        blob = (CORPUS / f"{name}.dxbc").read_bytes()
        try:
            wgsl = _translate(blob)
            entry = _fragment_entry(wgsl)
        except Exception as e:  # noqa: BLE001 - every failure is reported on the rows
            from_unsupported = type(e).__name__ == "ShaderUnsupported"
            for r in rows:
                out[r["id"]] = ("refused" if from_unsupported else "error",
                                f"translation failed: {type(e).__name__}: {e}")
            continue
        jobs.append({"name": name, "wgsl": wgsl, "entry": entry, "format": rows[0]["format"],
                     "cbs": [b"".join(struct.pack("<I", int(w, 16)) for w in r["cb0"]).hex() for r in rows],
                     "ids": [r["id"] for r in rows]})
    rendered = _run_child(jobs, want, BATCH_TIMEOUT_S) if jobs else {}
    if "__timeout__" in rendered or "__crash__" in rendered:
        why = rendered.get("__crash__", f"the batch did not finish in {BATCH_TIMEOUT_S} s")
        rendered = {}
        for job in jobs:  # one by one, to find the shader that hangs or crashes
            one = _run_child([job], want, ONE_SHADER_TIMEOUT_S)
            if "__timeout__" in one:
                one = {job["name"]: {"error": f"GPU work did not finish in {ONE_SHADER_TIMEOUT_S} s "
                                              f"(a loop that never ends?); batch: {why}"}}
            elif "__crash__" in one:
                one = {job["name"]: {"error": one["__crash__"]}}
            rendered.update(one)
    for job in jobs:
        res = rendered.get(job["name"], {"error": "no result from the child"})
        for i, rid in enumerate(job["ids"]):
            out[rid] = ("error", res["error"]) if isinstance(res, dict) else ("ok", res[i])
    return out


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_vkd3d_instruction(row, results):
    status, value = results[row["id"]]
    expected = [int(w, 16) for w in row["expected"]]
    cb0 = [int(w, 16) for w in row["cb0"]]
    where = (f"shader {row['shader']} ({row['blob']}.dxbc), d3d12.c line {row['line']}, "
             f"{row['format']}\n  cb0      = {' '.join(f'{w:08x}' for w in cb0)}")
    if row.get("is_float64") and "shader-f64" not in _host_features():
        # D3D11 refuses a doubles shader on a device without them; pvgpu's host devices ask
        # for shader-f64 only when it offers doubles
        assert status == "refused", f"{where}\n  a doubles shader on a host without shader-f64 must be " \
                                    f"refused (UNSUPPORTED), got {status}: {value}"
        assert re.search(r"\b(d[a-z]+|[iuf]tod)\b", value), value  # the refusal names the double opcode
        return
    if status != "ok":
        pytest.fail(f"{where}\n  {value}\n{_hlsl_summary(row['blob'])}", pytrace=False)
    got = value
    if row["compare"] == "exact":
        bad = [c for c in range(4) if got[c] != expected[c]]
    elif row["compare"] == "color":  # one RGBA8 texel, 0xAABBGGRR, each byte within max_diff
        bad = [c for c in range(4) if abs((got[0] >> 8 * c & 0xFF) - (expected[0] >> 8 * c & 0xFF)) > row["max_diff"]]
    else:
        bad = [c for c in range(4) if not _float_close(got[c], expected[c], row["ulps"])]
    if bad:
        lines = [where, f"  expected = {' '.join(f'{w:08x}' for w in expected)}"
                        + (f" (each byte within {row['max_diff']})" if row["compare"] == "color" else ""),
                 f"  got      = {' '.join(f'{w:08x}' for w in got)}"]
        if row["compare"] == "float_ulps":
            lines.append(f"  expected = {', '.join(_f(w) for w in expected)} (within {row['ulps']} ulps)")
            lines.append(f"  got      = {', '.join(_f(w) for w in got)}")
        lines.append(f"  wrong channels: {', '.join('xyzw'[c] for c in bad)}")
        flags = [k for k in ("is_mesa_bug", "is_todo", "todo_on_nvidia", "skip_on_warp") if row.get(k)]
        if flags:
            lines.append(f"  (vkd3d flags this row: {', '.join(flags)})")
        pytest.fail("\n".join(lines) + "\n" + _hlsl_summary(row["blob"]), pytrace=False)


def test_rows_cover_the_corpus_shaders():
    """The data names real corpus blobs of the test function it came from and holds the
    expected number of rows (the extraction is not silently truncated)."""
    shaders = {r["blob"] for r in ROWS}
    assert len(ROWS) >= 450 and len(shaders) >= 90
    assert len({r["blob"] for r in ROWS if not r.get("is_float64")}) >= 70
    assert DOC["source"]["commit"].startswith("4c9821e5")
    if not CORPUS.is_dir():
        pytest.skip(f"the DXBC corpus is absent ({CORPUS})")
    index = {s["id"]: s for s in json.loads((CORPUS / "index.json").read_text())["shaders"]}
    for r in ROWS:
        entry = index[r["blob"]]
        assert entry["variable"] == r["variable"]
        assert entry["function"] == r.get("function", "test_shader_instructions")
        assert entry["shader_type"] == "ps"


# ---------------------------------------------------------------------------------------
# the child: one wgpu device, everything in one submit

def _child() -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    import numpy as np
    import wgpu

    req = json.loads(sys.stdin.read())
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    dev = adapter.request_device_sync(required_features=req["features"])
    jobs = req["jobs"]
    out: dict = {}

    empty_bgl = dev.create_bind_group_layout(entries=[])
    cb_bgl = dev.create_bind_group_layout(entries=[{
        "binding": 0, "visibility": wgpu.ShaderStage.FRAGMENT,
        "buffer": {"type": "uniform", "has_dynamic_offset": True}}])
    layout = dev.create_pipeline_layout(bind_group_layouts=[empty_bgl, cb_bgl])
    vs = dev.create_shader_module(code=VS_WGSL)

    def checked(fn):  # wgpu-py raises wgpu.GPUError for what WebGPU reports as a validation error
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(f"{type(e).__name__}: {e}") from None

    pipelines = {}
    for job in jobs:
        fmt = FORMATS[job["format"]][0]
        try:
            module = checked(lambda: dev.create_shader_module(code=job["wgsl"]))
            pipelines[job["name"]] = checked(lambda: dev.create_render_pipeline(
                layout=layout, vertex={"module": vs, "entry_point": "vs_fullscreen"},
                fragment={"module": module, "entry_point": job["entry"], "targets": [{"format": fmt}]},
                primitive={"topology": "triangle-list"}))
        except RuntimeError as e:
            out[job["name"]] = {"error": f"wgpu refused the translated module: {e}"[:4000]}

    live = [j for j in jobs if j["name"] in pipelines]
    total = sum(len(j["cbs"]) for j in live)
    if total:
        data = bytearray(total * ROW_STRIDE)
        k = 0
        for j in live:
            for cb in j["cbs"]:
                raw = bytes.fromhex(cb)
                data[k * ROW_STRIDE:k * ROW_STRIDE + len(raw)] = raw
                k += 1
        buf = dev.create_buffer_with_data(data=bytes(data), usage=wgpu.BufferUsage.UNIFORM)
        bg_empty = dev.create_bind_group(layout=empty_bgl, entries=[])
        bg_cb = dev.create_bind_group(layout=cb_bgl, entries=[
            {"binding": 0, "resource": {"buffer": buf, "offset": 0, "size": ROW_STRIDE}}])
        enc = dev.create_command_encoder()
        targets = {}
        k = 0
        for fmt_name in FORMATS:
            fj = [j for j in live if j["format"] == fmt_name]
            width = sum(len(j["cbs"]) for j in fj)
            if not width:
                continue
            tex = dev.create_texture(size=(width, 1, 1), format=FORMATS[fmt_name][0],
                                     usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
            clear = (1, 1, 1, 1)  # vkd3d clears to white (1.0f; as uint the same call gives 1)
            bpp = FORMATS[fmt_name][1]
            rp = enc.begin_render_pass(color_attachments=[{
                "view": tex.create_view(), "load_op": "clear", "store_op": "store", "clear_value": clear}])
            rp.set_bind_group(0, bg_empty)
            x = 0
            placed = []
            for j in fj:
                rp.set_pipeline(pipelines[j["name"]])
                start = x
                for _ in j["cbs"]:
                    # rows of every format share the buffer; k counts rows across formats
                    rp.set_bind_group(1, bg_cb, [_row_offset(live, j, x - start)])
                    rp.set_viewport(x, 0, 1, 1, 0, 1)
                    rp.set_scissor_rect(x, 0, 1, 1)
                    rp.draw(3)
                    x += 1
                placed.append((j, start))
            rp.end()
            targets[fmt_name] = (tex, width, placed, bpp)
        dev.queue.submit([enc.finish()])
        for fmt_name, (tex, width, placed, bpp) in targets.items():
            raw = dev.queue.read_texture({"texture": tex, "mip_level": 0, "origin": (0, 0, 0)},
                                         {"offset": 0, "bytes_per_row": width * bpp, "rows_per_image": 1},
                                         (width, 1, 1))
            words = np.frombuffer(bytes(raw), dtype="<u4")[:width * bpp // 4].reshape(width, bpp // 4)
            for j, start in placed:
                out[j["name"]] = [[int(v) for v in words[start + i]] for i in range(len(j["cbs"]))]
    print(json.dumps(out))


def _row_offset(live: list[dict], job: dict, i: int) -> int:
    k = 0
    for j in live:
        if j is job:
            return (k + i) * ROW_STRIDE
        k += len(j["cbs"])
    raise KeyError(job["name"])


if __name__ == "__main__" and "--child" in sys.argv:
    _child()
