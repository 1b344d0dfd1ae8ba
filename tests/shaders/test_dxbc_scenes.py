"""DXBC scenes through the whole stack: guest API -> shared memory -> host service ->
renderer, with real fxc-compiled shaders from vkd3d's tests and the values vkd3d's
tests/d3d12.c states for them (tests/shaders/data/vkd3d_instructions.json).

Each scene is one corpus pixel shader (CreatePixelShader with its DXBC bytes) drawn once per
data row, with the row's constant buffer at PS slot 0 and a one-pixel viewport at x = row, on
a render target of the row's format cleared to white; the vertex shader is vkd3d's own
full-screen triangle from the same corpus (test_root_constants' vs_color, DXBC too).  A few
scenes pair other corpus vertex shaders with pixel shaders (varyings linked by semantic,
SV_IsFrontFace with both windings).

Also: vkd3d's compute rows (tgsm and raw-buffer atomics, imm_atomic_* results; DXBC compute
shaders, cb0 and raw UAVs, one Dispatch each), test_texture_ld's rows (Load with immediate
offsets from a bound 4x4 texture), and two vertex-buffer scenes (relative addressing of VS
inputs/outputs and PS inputs; a packed, partly unused nointerpolation input), their input
layouts matched to the DXBC VS signature by semantic.

One host service and one guest session serve the whole module; each shader's draws are
followed by a fence so that a refusal (the host's error log) is charged to its own scene.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from pvgpu import guest as g  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "vkd3d_instructions.json"
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", HERE.parent.parent.parent / "shared" / "dxbc")) / "vkd3d-d3d12"

with open(DATA) as _f:
    DOC = json.load(_f)
ROWS = DOC["rows"]

F = g.DxgiFormat
FORMATS = {"R32G32B32A32_FLOAT": (F.R32G32B32A32_FLOAT, 16), "R32G32B32A32_UINT": (F.R32G32B32A32_UINT, 16),
           "R8G8B8A8_UNORM": (F.R8G8B8A8_UNORM, 4)}
FULLSCREEN_VS = "vs_color_code__0"  # test_root_constants: clockwise full-screen triangle, COLOR = cb0
GREEN = (0.0, 1.0, 0.0, 1.0)


def _fbits(*v: float) -> list[str]:
    return [f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08x}" for x in v]


@dataclass
class Scene:
    """One scene: a PS (and VS) from the corpus and rows of (cb0 words, expectation)."""
    name: str
    ps: str
    rows: list[dict]
    vs: str = FULLSCREEN_VS
    vs_cb0: list[str] = field(default_factory=lambda: _fbits(*GREEN))
    raster: dict = field(default_factory=dict)  # RasterizerDesc keyword arguments


def _scenes() -> list[Scene]:
    by_blob: dict[str, list[dict]] = {}
    for r in ROWS:
        by_blob.setdefault(r["blob"], []).append(r)
    scenes = [Scene(rows[0]["shader"], blob, rows) for blob, rows in by_blob.items()]

    def row(expected, fmt="R8G8B8A8_UNORM", compare="color", **kw):
        return {"id": "0", "cb0": kw.pop("cb0", []), "format": fmt, "expected": expected, "compare": compare,
                "max_diff": 0, "ulps": 0, **kw}

    scenes += [
        # test_root_constants, second part: vs_color passes cb0 (green) as COLOR; ps_color
        # returns it if it equals its own cb0 (green), else blue.
        Scene("root_constants.vs_color+ps_color", "ps_color_code__0",
              [row(_fbits(*GREEN), "R32G32B32A32_FLOAT", "float_ulps", cb0=_fbits(*GREEN))]),
        # test_face_culling, SV_IsFrontFace: FrontCounterClockwise false, no culling.
        Scene("face_culling.vs_ccw+ps_front (back face)", "ps_front_code__0", [row(["0xffff0000"])],
              vs="vs_ccw_code__0", vs_cb0=[], raster={"cull_mode": g.CullMode.NONE}),
        Scene("face_culling.vs_ccw+ps_front, FrontCounterClockwise", "ps_front_code__0", [row(["0xff00ff00"])],
              vs="vs_ccw_code__0", vs_cb0=[],
              raster={"cull_mode": g.CullMode.NONE, "front_counter_clockwise": True}),
        Scene("face_culling.vs_color+ps_front, FrontCounterClockwise (back face)", "ps_front_code__0",
              [row(["0xffff0000"])], raster={"cull_mode": g.CullMode.NONE, "front_counter_clockwise": True}),
    ]
    return scenes


SCENES = _scenes()


def _host_features() -> frozenset[str]:
    from pvgpu.host import gpu

    return frozenset(gpu.device_features())


def _words(hexes: list[str]) -> bytes:
    return b"".join(struct.pack("<I", int(w, 16)) for w in hexes)


def _ordered(bits: int) -> int:
    x = bits - (1 << 32) if bits & 0x80000000 else bits
    return (-(1 << 31) - x if x < 0 else x) & 0xFFFFFFFF


def _mismatch(r: dict, got: list[int]) -> list[int]:
    exp = [int(w, 16) for w in r["expected"]]
    if r["compare"] == "exact":
        return [c for c in range(4) if got[c] != exp[c]]
    if r["compare"] == "color":
        return [c for c in range(4) if abs((got[0] >> 8 * c & 0xFF) - (exp[0] >> 8 * c & 0xFF)) > r["max_diff"]]
    bad = []
    for c in range(4):
        x, y = _ordered(got[c]), _ordered(exp[c])
        if (max(x, y) - min(x, y)) > r["ulps"]:
            bad.append(c)
    return bad


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    if not CORPUS.is_dir():
        pytest.skip(f"the DXBC corpus is absent ({CORPUS}); these scenes read ../shared/dxbc/vkd3d-d3d12")
    from pvgpu.host.service import HostService

    tmp = tmp_path_factory.mktemp("dxbc-scenes")
    service = HostService(str(tmp / "host.sock"), region_size=32 << 20, presenters=[])
    service.start()
    device = g.connect(service.socket_path, timeout=30)
    try:
        yield device
    finally:
        device.close()
        service.stop()


def _read_texture(device, texture):
    from conformance.guest import read_texture

    return read_texture(device, texture)


def _run_scenes(device) -> dict:
    ctx = device.get_immediate_context()
    # one target per format, one pixel per row
    width: dict[str, int] = {}
    place: list[tuple[Scene, int, int]] = []  # scene, row index, x
    for sc in SCENES:
        for i, r in enumerate(sc.rows):
            x = width.get(r["format"], 0)
            width[r["format"]] = x + 1
            place.append((sc, i, x))
    targets, rtvs = {}, {}
    for fmt, w in width.items():
        targets[fmt] = device.create_texture2d(g.Texture2DDesc(w, 1, FORMATS[fmt][0], bind_flags=g.BindFlag.RENDER_TARGET))
        rtvs[fmt] = device.create_render_target_view(targets[fmt])
        ctx.clear_render_target_view(rtvs[fmt], (1.0, 1.0, 1.0, 1.0))
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    device.connection.finish()

    shaders: dict[tuple[str, str], object] = {}
    errors: dict[str, str] = {}
    for sc in SCENES:
        try:
            for kind, blob in (("vs", sc.vs), ("ps", sc.ps)):
                if (kind, blob) not in shaders:
                    code = (CORPUS / f"{blob}.dxbc").read_bytes()
                    make = device.create_vertex_shader if kind == "vs" else device.create_pixel_shader
                    shaders[(kind, blob)] = make(code)
            ctx.vs_set_shader(shaders[("vs", sc.vs)])
            ctx.ps_set_shader(shaders[("ps", sc.ps)])
            ctx.rs_set_state(device.create_rasterizer_state(g.RasterizerDesc(**sc.raster)) if sc.raster else None)
            if sc.vs_cb0:
                data = _words(sc.vs_cb0)
                ctx.vs_set_constant_buffers(0, [device.create_buffer(
                    g.BufferDesc(256, g.BindFlag.CONSTANT_BUFFER), data + bytes(256 - len(data)))])
            else:
                ctx.vs_set_constant_buffers(0, [None])
            for (s, i, x) in place:
                if s is not sc:
                    continue
                r = sc.rows[i]
                ctx.om_set_render_targets([rtvs[r["format"]]])
                data = _words(r["cb0"])
                ctx.ps_set_constant_buffers(0, [device.create_buffer(
                    g.BufferDesc(256, g.BindFlag.CONSTANT_BUFFER), data + bytes(256 - len(data)))] if r["cb0"] else [None])
                ctx.rs_set_viewports([g.Viewport(x, 0, 1, 1)])
                ctx.draw(3)
            device.connection.finish()
        except Exception as e:  # noqa: BLE001 - the host's refusal is this scene's result
            errors[sc.name] = f"{type(e).__name__}: {e}"
    ctx.om_set_render_targets([])
    pixels = {}
    for fmt, tex in targets.items():
        data = _read_texture(device, tex)  # (1, width, bpp) uint8
        pixels[fmt] = np.ascontiguousarray(data[0]).view("<u4").reshape(width[fmt], -1)
    out: dict[str, list] = {}
    for (sc, i, x) in place:
        res = out.setdefault(sc.name, [None] * len(sc.rows))
        if sc.name in errors:
            res[i] = ("error", errors[sc.name])
        else:
            res[i] = ("ok", [int(v) for v in pixels[sc.rows[i]["format"]][x]])
    return out


@pytest.fixture(scope="module")
def results(session) -> dict:
    return _run_scenes(session)


@pytest.mark.parametrize("scene", SCENES, ids=[s.name for s in SCENES])
def test_dxbc_scene(scene: Scene, results):
    lines = []
    for r, (status, got) in zip(scene.rows, results[scene.name]):
        if r.get("is_float64") and "shader-f64" not in _host_features():
            # D3D11 without doubles refuses such a shader; so must the host
            assert status == "error" and "UNSUPPORTED" in got.upper(), f"{scene.name}: {status} {got}"
            continue
        if status != "ok":
            pytest.fail(f"{scene.name} (PS {scene.ps}, VS {scene.vs}): {got}", pytrace=False)
        bad = _mismatch(r, got)
        if bad:
            lines.append(f"  row {r['id']}: cb0 {' '.join(w[2:] for w in r['cb0'])} expected "
                         f"{' '.join(w[2:] for w in r['expected'])} got {' '.join(f'{v:08x}' for v in got)} "
                         f"({r['compare']}; wrong {''.join('xyzw'[c] for c in bad)})")
    assert not lines, f"{scene.name} (PS {scene.ps}.dxbc, VS {scene.vs}.dxbc):\n" + "\n".join(lines)


def _draw_strip(device, vs_blob: str, ps_blob: str, layout: list, vertices: np.ndarray, cb0: bytes | None):
    """A 32x32 R8G8B8A8_UNORM target cleared to white, a 4-vertex triangle strip from `vertices`
    through the corpus VS/PS with `layout` (matched to the VS signature by semantic), cb0 bound
    to both stages; returns the target's texels as 0xAABBGGRR words (32, 32)."""
    from conformance.guest import read_texture

    ctx = device.get_immediate_context()
    vs_code = (CORPUS / f"{vs_blob}.dxbc").read_bytes()
    tex = device.create_texture2d(g.Texture2DDesc(32, 32, F.R8G8B8A8_UNORM, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(tex)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (1.0, 1.0, 1.0, 1.0))
    ctx.rs_set_state(None)
    ctx.rs_set_viewports([g.Viewport(0, 0, 32, 32)])
    ctx.ia_set_input_layout(device.create_input_layout(layout, vs_code))
    vb = device.create_buffer(g.BufferDesc(vertices.nbytes, g.BindFlag.VERTEX_BUFFER), vertices.tobytes())
    ctx.ia_set_vertex_buffers(0, [vb], [vertices.strides[0]])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLESTRIP)
    ctx.vs_set_shader(device.create_vertex_shader(vs_code))
    ctx.ps_set_shader(device.create_pixel_shader((CORPUS / f"{ps_blob}.dxbc").read_bytes()))
    cbs = [device.create_buffer(g.BufferDesc(256, g.BindFlag.CONSTANT_BUFFER), cb0 + bytes(256 - len(cb0)))] \
        if cb0 is not None else [None]
    ctx.vs_set_constant_buffers(0, cbs)
    ctx.ps_set_constant_buffers(0, cbs)
    ctx.draw(4)
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    return np.ascontiguousarray(read_texture(device, tex)).view("<u4")[..., 0]


def test_vs_ps_relative_addressing_scene(session):
    """vkd3d test_vs_ps_relative_addressing: the VS picks color[index.xyz] of its inputs (v#
    relative addressing) into o[1..3], the PS returns its input color[index.w]; cb0 = {1, 2, 0,
    1} in both stages; vkd3d checks the whole target is 0xff00ff00."""
    vertex = np.dtype([("pos", "<f4", 4), ("color", "<u4", 3)])
    vertices = np.array([((-1, -1, 0, 1), (0xFFFFFF00, 0xFF00, 0xFF00FF00)),
                         ((-1, 1, 0, 1), (0xFFFFFF00, 0xFF00, 0xFF00FF00)),
                         ((1, -1, 0, 1), (0xFFFFFF00, 0xFF00, 0xFF00FF00)),
                         ((1, 1, 0, 1), (0xFFFFFF00, 0xFF00, 0xFF00FF00))], vertex)
    layout = [g.InputElementDesc("SV_POSITION", 0, F.R32G32B32A32_FLOAT, 0, 0),
              g.InputElementDesc("COLOR", 0, F.R8G8B8A8_UNORM, 0, 16),
              g.InputElementDesc("COLOR", 1, F.R8G8B8A8_UNORM, 0, 20),
              g.InputElementDesc("COLOR", 2, F.R8G8B8A8_UNORM, 0, 24)]
    got = _draw_strip(session, "vs_code__28", "ps_code__45", layout, vertices, struct.pack("<4I", 1, 2, 0, 1))
    wrong = np.argwhere(got != 0xFF00FF00)
    assert not len(wrong), f"{len(wrong)} texels differ from 0xff00ff00; values seen: {[f'{v:08x}' for v in np.unique(got)]}"


def test_unused_interpolated_input_scene(session):
    """vkd3d test_unused_interpolated_input: fxc packs COLOR0.xy (unused) and COLOR1.zw
    (nointerpolation) into one PS input register; the PS returns COLOR1 twice; vertex 2's
    colour is never the provoking one; vkd3d checks texel (8, 8) is 0xff00ff00."""
    vertex = np.dtype([("pos", "<f4", 2), ("color", "<f4", 4)])
    vertices = np.array([((-1, -1), (0, 1, 0, 1)), ((-1, 1), (0, 1, 0, 1)),
                         ((1, -1), (1, 0, 1, 0)), ((1, 1), (0, 1, 0, 1))], vertex)
    layout = [g.InputElementDesc("POSITION", 0, F.R32G32_FLOAT, 0, 0),
              g.InputElementDesc("COLOR", 0, F.R32G32B32A32_FLOAT, 0, 8)]
    got = _draw_strip(session, "vs_code__30", "ps_code__47", layout, vertices, None)
    assert f"{got[8, 8]:08x}" == "ff00ff00"


TEXTURE = DOC.get("texture", [])


@pytest.fixture(scope="module")
def texture_results(session) -> list[int]:
    """The texture rows drawn as one pass: a pixel per row, t0 from the row, one readback."""
    from conformance.guest import read_texture

    device = session
    ctx = device.get_immediate_context()
    tex = device.create_texture2d(g.Texture2DDesc(len(TEXTURE), 1, F.R8G8B8A8_UNORM, bind_flags=g.BindFlag.RENDER_TARGET))
    rtv = device.create_render_target_view(tex)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (1.0, 1.0, 1.0, 1.0))
    ctx.rs_set_state(None)
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(device.create_vertex_shader((CORPUS / f"{FULLSCREEN_VS}.dxbc").read_bytes()))
    shaders, views = {}, {}
    for x, r in enumerate(TEXTURE):
        if r["blob"] not in shaders:
            shaders[r["blob"]] = device.create_pixel_shader((CORPUS / f"{r['blob']}.dxbc").read_bytes())
        ctx.ps_set_shader(shaders[r["blob"]])
        for t in r["textures"]:
            key = (t["format"], t["width"], t["height"], tuple(t["texels"]))
            if key not in views:
                res = device.create_texture2d(g.Texture2DDesc(t["width"], t["height"], FORMATS[t["format"]][0]),
                                              _words(t["texels"]))
                views[key] = device.create_shader_resource_view(res)
            ctx.ps_set_shader_resources(t["slot"], [views[key]])
        cb = _words(r["cb0"])
        ctx.ps_set_constant_buffers(0, [device.create_buffer(g.BufferDesc(256, g.BindFlag.CONSTANT_BUFFER),
                                                             cb + bytes(256 - len(cb)))])
        ctx.rs_set_viewports([g.Viewport(x, 0, 1, 1)])
        ctx.draw(3)
    ctx.ps_set_shader_resources(0, [None])
    return [int(v) for v in np.ascontiguousarray(read_texture(device, tex)).view("<u4")[0, :, 0]]


@pytest.mark.parametrize("row", TEXTURE, ids=[r["id"] for r in TEXTURE])
def test_dxbc_texture_scene(row, texture_results):
    """vkd3d test_texture_ld: Load from a 4x4 texture with immediate texel offsets."""
    got = texture_results[TEXTURE.index(row)]
    assert not _mismatch(row, [got]), (f"{row['id']} ({row['blob']}.dxbc): cb0 {' '.join(w[2:] for w in row['cb0'])} "
                                       f"expected {row['expected'][0][2:]} got {got:08x}")


COMPUTE = DOC.get("compute", [])


@pytest.mark.parametrize("row", COMPUTE, ids=[r["id"] for r in COMPUTE])
def test_dxbc_compute_scene(row, session):
    """A corpus compute shader (CreateComputeShader with DXBC): cb0 and raw-buffer UAVs set
    from the row, one Dispatch, the UAVs read back and compared word for word."""
    from conformance.guest import dispatch, read_buffer

    device = session
    code = (CORPUS / f"{row['blob']}.dxbc").read_bytes()
    cb = _words(row["cb0"])
    constants = [device.create_buffer(g.BufferDesc(256, g.BindFlag.CONSTANT_BUFFER), cb + bytes(256 - len(cb)))]
    buffers, views = [], []
    for u in sorted(row["uavs"], key=lambda u: u["slot"]):
        init = _words(u["initial"])
        init += bytes(u["raw_bytes"] - len(init))
        buf = device.create_buffer(g.BufferDesc(u["raw_bytes"], g.BindFlag.UNORDERED_ACCESS,
                                                misc_flags=g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS), init)
        buffers.append(buf)
        views.append(device.create_unordered_access_view(buf, F.R32_TYPELESS, flags=g.BufferViewFlag.RAW))
    dispatch(device, device.create_compute_shader(code), tuple(row["groups"]), constants=constants, uavs=views)
    lines = []
    for u, buf in zip(sorted(row["uavs"], key=lambda u: u["slot"]), buffers):
        got = read_buffer(device, buf).view("<u4")[:len(u["expected"])]
        exp = np.array([int(w, 16) for w in u["expected"]], dtype=np.uint32)
        if not np.array_equal(got, exp):
            lines.append(f"  u{u['slot']}: initial {' '.join(w[2:] for w in u['initial'])}\n"
                         f"       expected {' '.join(f'{v:08x}' for v in exp)}\n"
                         f"       got      {' '.join(f'{int(v):08x}' for v in got)}")
    assert not lines, (f"{row['id']} ({row['blob']}.dxbc, {row['function']}), cb0 "
                       f"{' '.join(w[2:] for w in row['cb0'])}:\n" + "\n".join(lines))


def test_enough_scenes():
    assert len(SCENES) >= 40
    assert len({s.ps for s in SCENES}) >= 40
