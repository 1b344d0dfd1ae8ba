"""DXBC shader cost (issue 8): translation time per shader over the real corpora
(../shared/dxbc: DirectXTK and vkd3d's tests), wgpu shader-module creation per translated
shader, and first-use pipeline creation, next to the same wgpu calls on hand-written WGSL
equivalents of the same shaders (DirectXTK's BasicEffect VSBasicTx + PSBasicTx, and vkd3d's
cs_1_store compute shader, written here as a person would write them in WGSL).

Translation runs in this process (container parse + decode + WGSL writer, the default
specialization; each shader translated `repeats` times, its median kept). The wgpu work runs
in a child process with Mesa's shader cache off (MESA_SHADER_CACHE_DISABLE), so each pipeline
creation is a first use, as it is for a guest's shader on a fresh host; translated and
hand-written creations alternate so that drift hits both alike.

    python -m benchmarks.shader_translation [--quick]      (also a section of `pvgpu bench`)
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPORA = ("directxtk", "vkd3d-d3d12")
PAIR = ("directxtk/BasicEffect_VSBasicTx.dxbc", "directxtk/BasicEffect_PSBasicTx.dxbc")
CS = "vkd3d-d3d12/cs_1_store_code__0.dxbc"

# BasicEffect's VSBasicTx / PSBasicTx (DirectXTK BasicEffect.fx) as hand-written WGSL on pvgpu's
# binding convention: the constant buffer as its 26 float4 registers, fog factor in specular.w.
HAND_VS = """
struct Constants { c: array<vec4<f32>, 26> };
@group(0) @binding(0) var<uniform> cb: Constants;
struct VsIn { @location(0) position: vec4<f32>, @location(1) texcoord: vec2<f32> };
struct VsOut {
    @location(0) diffuse: vec4<f32>,
    @location(1) specular: vec4<f32>,
    @location(2) texcoord: vec2<f32>,
    @builtin(position) position: vec4<f32>,
};
@vertex
fn main(v: VsIn) -> VsOut {
    var out: VsOut;
    out.diffuse = cb.c[0];
    out.specular = vec4<f32>(0.0, 0.0, 0.0, saturate(dot(v.position, cb.c[14])));
    out.texcoord = v.texcoord;
    out.position = vec4<f32>(dot(v.position, cb.c[22]), dot(v.position, cb.c[23]),
                             dot(v.position, cb.c[24]), dot(v.position, cb.c[25]));
    return out;
}
"""
HAND_PS = """
struct Constants { c: array<vec4<f32>, 14> };
@group(1) @binding(0) var<uniform> cb: Constants;
@group(1) @binding(16) var s: sampler;
@group(1) @binding(32) var t: texture_2d<f32>;
struct PsIn {
    @location(0) diffuse: vec4<f32>,
    @location(1) specular: vec4<f32>,
    @location(2) texcoord: vec2<f32>,
};
@fragment
fn main(p: PsIn) -> @location(0) vec4<f32> {
    let color = textureSample(t, s, p.texcoord) * p.diffuse;
    return vec4<f32>(mix(color.rgb, cb.c[13].rgb * color.a, p.specular.w), color.a);
}
"""
# vkd3d's cs_1_store: RWTexture2D<float> u; float value; [numthreads(1,1,1)] u[groupID.xy] = value;
HAND_CS = """
struct Constants { value: f32 };
@group(2) @binding(0) var<uniform> cb: Constants;
@group(2) @binding(160) var u: texture_storage_2d<rgba32float, write>;
@compute @workgroup_size(1, 1, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>) {
    if (all(group.xy < textureDimensions(u))) {
        textureStore(u, group.xy, vec4<f32>(cb.value));
    }
}
"""


def corpus_root() -> Path:
    return Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc"))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def translate_corpus(folder: Path, repeats: int = 3) -> dict:
    """Per blob: outcome and the median of `repeats` timed translations (load + to_wgsl)."""
    from pvgpu.shaders import translate
    from pvgpu.shaders.errors import ShaderError, ShaderUnsupported

    out = {"shaders": 0, "translated": 0, "refused": 0, "invalid": 0, "times": {}, "wgsl": {}}
    for path in sorted(folder.glob("*.dxbc")):
        code = path.read_bytes()
        times = []
        try:
            for _ in range(repeats):
                start = time.perf_counter()
                shader = translate.load(code)
                source = translate.to_wgsl(shader)
                times.append(time.perf_counter() - start)
        except ShaderUnsupported:
            out["shaders"] += 1
            out["refused"] += 1
            continue
        except ShaderError as e:
            if not e.message.startswith("no shader program chunk"):  # root signatures are not shaders
                out["shaders"] += 1
                out["invalid"] += 1
            continue
        out["shaders"] += 1
        out["translated"] += 1
        out["times"][path.stem] = statistics.median(times)
        out["wgsl"][path.stem] = (source, shader.stage.name.lower())
    return out


def _wgsl(path: Path, spec=None) -> str:
    from pvgpu.shaders import translate
    from pvgpu.shaders.specialization import DEFAULT
    return translate.to_wgsl(translate.load(path.read_bytes()), spec or DEFAULT)


def _pair_wgsl(root: Path) -> tuple[str, str]:
    """The BasicEffect pair translated with its varyings linked, as the host does for a draw."""
    from pvgpu.shaders import translate
    from pvgpu.shaders.specialization import Specialization
    vs = translate.load((root / PAIR[0]).read_bytes())
    ps = translate.load((root / PAIR[1]).read_bytes())
    vs_vary, ps_vary = translate.link(vs, ps)
    return (translate.to_wgsl(vs, Specialization(varyings=vs_vary)),
            translate.to_wgsl(ps, Specialization(varyings=ps_vary)))


def measure(quick: bool = False) -> dict | None:
    """Everything the table shows; None when the corpus is absent."""
    root = corpus_root()
    if not all((root / c).is_dir() for c in CORPORA):
        return None
    repeats = 2 if quick else 5
    translate_corpus(root / CORPORA[0], repeats=1)  # warm up imports and caches of the writer
    corpora = {c: translate_corpus(root / c, repeats=repeats) for c in CORPORA}
    modules = [{"name": f"{c}/{n}", "wgsl": w, "stage": s} for c in CORPORA for n, (w, s) in corpora[c]["wgsl"].items()]
    if quick:
        modules = modules[::4]
    vs, ps = _pair_wgsl(root)
    job = {"modules": modules, "reps": 5 if quick else 20,
           "pair": {"translated": [vs, ps], "hand": [HAND_VS, HAND_PS]},
           "cs": {"translated": _wgsl(root / CS), "hand": HAND_CS}}
    env = {**os.environ, "MESA_SHADER_CACHE_DISABLE": "true", "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.shader_translation", "--child"], input=json.dumps(job),
                          capture_output=True, text=True, env=env, cwd=str(REPO), timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the wgpu child failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    gpu = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"corpora": {c: {k: v for k, v in d.items() if k != "wgsl"} for c, d in corpora.items()},
            "wgpu": gpu, "sizes": {"pair": [len(vs), len(ps)], "hand": [len(HAND_VS), len(HAND_PS)],
                                   "cs": [len(job["cs"]["translated"]), len(HAND_CS)]}}


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else ""


def rows(m: dict) -> list[tuple[str, str, str, str]]:
    """(measurement, pvgpu, baseline, ratio) rows in `pvgpu bench`'s table."""
    med = statistics.median
    out = []
    for c, d in m["corpora"].items():
        t = list(d["times"].values())
        out.append((f"{c}: translated/shaders", f"{d['translated']}/{d['shaders']}",
                    f"{d['refused']} refused", ""))
        out.append(("  translate per shader med/p90, ms", f"{med(t) * 1e3:.2f} / {_pct(t, 0.9) * 1e3:.2f}", "", ""))
        out.append(("  translate worst, ms", f"{max(t) * 1e3:.1f}", "", ""))
    g = m["wgpu"]
    mods = g["modules"]
    ok = [v["ms"] for v in mods.values() if "ms" in v]
    hand_mod = med(g["hand_module_ms"])
    out.append(("wgpu accepts translated modules", f"{len(ok)}/{len(mods)}", "", ""))
    out.append(("  module creation median, ms", f"{med(ok):.2f}", f"{hand_mod:.2f} (hand)", _ratio(med(ok), hand_mod)))
    out.append(("  module creation p90 / worst, ms", f"{_pct(ok, 0.9):.2f} / {max(ok):.1f}", "", ""))
    for label, k in (("BasicEffect VS+PS modules, ms", "module_ms"), ("  render pipeline creation, ms", "pipeline_ms"),
                     ("  first draw (compiles), ms", "draw_ms")):
        a, b = med(g[f"pair_{k}"]), med(g[f"hand_pair_{k}"])
        out.append((label, f"{a:.2f}", f"{b:.2f} (hand)", _ratio(a, b)))
    for label, k in (("cs_1_store module+pipeline, ms", "pipeline_ms"), ("  first dispatch (compiles), ms", "dispatch_ms")):
        a, b = med(g[f"cs_{k}"]), med(g[f"hand_cs_{k}"])
        out.append((label, f"{a:.2f}", f"{b:.2f} (hand)", _ratio(a, b)))
    cps = [v["pipeline_ms"] for v in mods.values() if "pipeline_ms" in v]
    if cps:
        hc = med(g["hand_cs_pipeline_ms"])
        out.append((f"  {len(cps)} CS pipelines med/worst, ms", f"{med(cps):.2f} / {max(cps):.1f}", f"{hc:.2f} (hand)",
                    _ratio(med(cps), hc)))
    s = m["sizes"]
    out.append(("WGSL bytes: BasicEffect VS+PS", f"{sum(s['pair']):,}", f"{sum(s['hand']):,} (hand)",
                _ratio(sum(s["pair"]), sum(s["hand"]))))
    return out


def notes(m: dict) -> list[str]:
    """The worst shaders by name (too long for the table)."""
    out = []
    for c, d in m["corpora"].items():
        worst = max(d["times"], key=d["times"].get)
        out.append(f"slowest translation in {c}: {worst} ({d['times'][worst] * 1e3:.1f} ms)")
    mods = {k: v for k, v in m["wgpu"]["modules"].items() if "ms" in v}
    worst = max(mods, key=lambda k: mods[k]["ms"])
    out.append(f"slowest module creation: {worst} ({mods[worst]['ms']:.1f} ms)")
    bad = {k: v["error"] for k, v in m["wgpu"]["modules"].items() if "error" in v}
    out += [f"wgpu refused {k}: {e}" for k, e in bad.items()]
    return out


# --- the wgpu child ---------------------------------------------------------------------------

def _child() -> None:
    import wgpu

    from pvgpu.host import gpu

    job = json.loads(sys.stdin.read())
    dev, _ = gpu.open_device()
    res: dict = {"modules": {}}

    def timed(fn):
        start = time.perf_counter()
        value = fn()
        return value, (time.perf_counter() - start) * 1e3

    def entry(src: str, kind: str) -> str:
        m = re.search(rf"@{kind}(?:\s+@workgroup_size\([^)]*\))?\s*fn\s+(\w+)", src)
        return m.group(1) if m else "main"

    dev.create_shader_module(code=HAND_VS)  # warm up: the device's first module pays one-time costs
    for mod in job["modules"]:
        r = res["modules"][mod["name"]] = {}
        try:
            module, r["ms"] = timed(lambda: dev.create_shader_module(code=mod["wgsl"]))
            if mod["stage"] == "compute":
                _, r["pipeline_ms"] = timed(lambda: dev.create_compute_pipeline(
                    layout="auto", compute={"module": module, "entry_point": entry(mod["wgsl"], "compute")}))
        except Exception as e:  # noqa: BLE001
            r["error"] = str(e).splitlines()[0][:200]

    buffers = [{"array_stride": 24, "step_mode": "vertex", "attributes": [
        {"format": "float32x4", "offset": 0, "shader_location": 0},
        {"format": "float32x2", "offset": 16, "shader_location": 1}]}]

    def render(vs_src: str, ps_src: str) -> tuple[float, float, float]:
        """(module creation, pipeline creation, first draw) in ms; the first draw is one
        triangle into a 4x4 target, submitted and waited for (lavapipe compiles a pipeline's
        shaders for the draw state at the first draw, not at pipeline creation)."""
        (vs, ps), mod_ms = timed(lambda: (dev.create_shader_module(code=vs_src), dev.create_shader_module(code=ps_src)))
        pipe, pipe_ms = timed(lambda: dev.create_render_pipeline(
            layout="auto", vertex={"module": vs, "entry_point": entry(vs_src, "vertex"), "buffers": buffers},
            fragment={"module": ps, "entry_point": entry(ps_src, "fragment"),
                      "targets": [{"format": wgpu.TextureFormat.rgba8unorm}]},
            primitive={"topology": "triangle-list"}))

        def draw():
            groups = [dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
                {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 26 * 16}}]),
                dev.create_bind_group(layout=pipe.get_bind_group_layout(1), entries=[
                    {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 14 * 16}},
                    {"binding": 16, "resource": sampler}, {"binding": 32, "resource": texture_view}])]
            enc = dev.create_command_encoder()
            rp = enc.begin_render_pass(color_attachments=[{"view": target_view, "load_op": "clear",
                                                           "store_op": "store", "clear_value": (0, 0, 0, 0)}])
            rp.set_pipeline(pipe)
            for i, g in enumerate(groups):
                rp.set_bind_group(i, g)
            rp.set_vertex_buffer(0, vertices)
            rp.draw(3)
            rp.end()
            dev.queue.submit([enc.finish()])
            dev.queue.read_buffer(fence)  # waits for the submitted work
        _, draw_ms = timed(draw)
        return mod_ms, pipe_ms, draw_ms

    def compute(src: str) -> tuple[float, float]:
        """(module + pipeline creation, first dispatch submitted and waited for) in ms."""
        def make():
            module = dev.create_shader_module(code=src)
            return dev.create_compute_pipeline(layout="auto", compute={"module": module,
                                                                       "entry_point": entry(src, "compute")})
        pipe, make_ms = timed(make)

        def dispatch():
            enc = dev.create_command_encoder()
            cp = enc.begin_compute_pass()
            cp.set_pipeline(pipe)
            for i in (0, 1):
                cp.set_bind_group(i, dev.create_bind_group(layout=pipe.get_bind_group_layout(i), entries=[]))
            cp.set_bind_group(2, dev.create_bind_group(layout=pipe.get_bind_group_layout(2), entries=[
                {"binding": 0, "resource": {"buffer": cb, "offset": 0, "size": 16}},
                {"binding": 160, "resource": storage_view}]))
            cp.dispatch_workgroups(4, 4, 1)
            cp.end()
            dev.queue.submit([enc.finish()])
            dev.queue.read_buffer(fence)  # waits for the submitted work
        return make_ms, timed(dispatch)[1]

    cb = dev.create_buffer_with_data(data=bytes(26 * 16), usage=wgpu.BufferUsage.UNIFORM)
    fence = dev.create_buffer(size=4, usage=wgpu.BufferUsage.COPY_SRC)
    vertices = dev.create_buffer_with_data(data=bytes(3 * 24), usage=wgpu.BufferUsage.VERTEX)
    sampler = dev.create_sampler()
    texture_view = dev.create_texture(size=(4, 4, 1), format="rgba8unorm",
                                      usage=wgpu.TextureUsage.TEXTURE_BINDING).create_view()
    target_view = dev.create_texture(size=(4, 4, 1), format="rgba8unorm",
                                     usage=wgpu.TextureUsage.RENDER_ATTACHMENT).create_view()
    storage_view = dev.create_texture(size=(4, 4, 1), format="rgba32float",
                                      usage=wgpu.TextureUsage.STORAGE_BINDING).create_view()

    keys = ("module_ms", "pipeline_ms", "draw_ms")
    for who in ("pair", "hand_pair"):
        for k in keys:
            res[f"{who}_{k}"] = []
    for k in ("cs_pipeline_ms", "cs_dispatch_ms", "hand_cs_pipeline_ms", "hand_cs_dispatch_ms", "hand_module_ms"):
        res[k] = []
    render(*job["pair"]["hand"])  # warm up (the device's first pipeline and draw)
    compute(job["cs"]["hand"])
    for _ in range(job["reps"]):  # alternate translated and hand-written
        for who, srcs in (("pair", job["pair"]["translated"]), ("hand_pair", job["pair"]["hand"])):
            for k, v in zip(keys, render(*srcs)):
                res[f"{who}_{k}"].append(v)
        for who, src in (("cs", job["cs"]["translated"]), ("hand_cs", job["cs"]["hand"])):
            p, d = compute(src)
            res[f"{who}_pipeline_ms"].append(p)
            res[f"{who}_dispatch_ms"].append(d)
        for src in (HAND_VS, HAND_PS, HAND_CS):
            res["hand_module_ms"].append(timed(lambda: dev.create_shader_module(code=src))[1])
    print(json.dumps(res))


def main(quick: bool = False) -> int:
    from pvgpu.host import gpu
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}; adapter: {gpu.describe_adapter()}")
    m = measure(quick)
    if m is None:
        print(f"the DXBC corpora are absent ({corpus_root()}); nothing measured")
        return 1
    print(f"| {'measurement':<34} | {'pvgpu':>16} | {'baseline':>16} | {'ratio':>8} |")
    print("|" + "-" * 36 + "|" + "-" * 18 + "|" + "-" * 18 + "|" + "-" * 10 + "|")
    for name, value, base, ratio in rows(m):
        print(f"| {name:<34} | {value:>16} | {base:>16} | {ratio:>8} |")
    for line in notes(m):
        print(line)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child()
    else:
        sys.exit(main(quick="--quick" in sys.argv[1:]))
