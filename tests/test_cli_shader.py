"""`pvgpu shader disasm|wgsl|check` as a user runs them (subprocesses), on a few corpus blobs
and on bad files. The corpus is ../shared/dxbc (or $PVGPU_DXBC_CORPUS); tests that need it skip,
saying so, where it is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pvgpu import cli_shader

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc"))
PVGPU = [sys.executable, "-m", "pvgpu.cli"]

VS = "directxtk/BasicEffect_VSBasic.dxbc"
PS = "directxtk/BasicEffect_PSBasicTx.dxbc"
CS = "vkd3d-d3d12/cs_1_store_code__0.dxbc"  # a typed texture UAV
HS = "vkd3d-d3d12/hs_cb_code__0.dxbc"
ROOT_SIGNATURE = "vkd3d-d3d12/cbv_rootsig__0.dxbc"


def run(*args, timeout=180):
    return subprocess.run([*PVGPU, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def blob(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"the DXBC corpus is absent ({path} missing); these tests read ../shared/dxbc")
    return path


def test_disasm_prints_signatures_and_fxc_instructions():
    r = run("shader", "disasm", blob(VS))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "// Input signature:" in out and "// Output signature:" in out
    assert "// SV_Position              0   xyzw        2      POS   float   xyzw" in out
    lines = out.splitlines()
    assert "vs_4_0" in lines
    # fxc's own listing of this blob (directxtk/*.asm) has these instruction lines
    fxc = (CORPUS / VS).with_suffix(".asm").read_text()
    for expected in ("dcl_constantbuffer CB0[26], immediateIndexed", "dp4_sat o1.w, v0.xyzw, cb0[14].xyzw",
                     "dp4 o2.w, v0.xyzw, cb0[25].xyzw", "ret"):
        assert expected in lines and expected in fxc


def test_wgsl_default_and_chosen_specializations():
    r = run("shader", "wgsl", blob(PS))
    assert r.returncode == 0, r.stderr
    assert "@fragment" in r.stdout and "var t0: texture_2d<f32>;" in r.stdout
    assert "@group(1) @binding(32) var t0" in r.stdout  # pixel stage's group, SRV range (bindings.py)
    r = run("shader", "wgsl", blob(PS), "--texture", "t0=depth")
    assert r.returncode == 0, r.stderr
    assert "var t0: texture_depth_2d;" in r.stdout
    r = run("shader", "wgsl", blob(CS))
    assert r.returncode == 0 and "@compute" in r.stdout and "texture_storage_2d<rgba32float, write>" in r.stdout
    r = run("shader", "wgsl", blob(CS), "--storage-format", "0=rgba8unorm")
    assert r.returncode == 0 and "texture_storage_2d<rgba8unorm, write>" in r.stdout


def test_wgsl_refusals_are_clear_errors():
    r = run("shader", "wgsl", blob(HS))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "hull shaders" in r.stderr and "does not translate" in r.stderr and not r.stdout
    r = run("shader", "wgsl", blob(PS), "--texture", "t0=uint")  # sample on a uint texture
    assert r.returncode != 0 and "Traceback" not in r.stderr and "sample" in r.stderr
    r = run("shader", "wgsl", blob(PS), "--texture", "t0=cube")  # not a kind
    assert r.returncode == 2 and "float, unfilterable, depth, uint, sint" in r.stderr


def test_bad_files(tmp_path):
    junk = tmp_path / "junk.dxbc"
    junk.write_bytes(b"not a shader at all")
    missing = tmp_path / "missing.dxbc"
    for sub in ("disasm", "wgsl"):
        r = run("shader", sub, junk)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert "junk.dxbc: not a valid DXBC shader" in r.stderr and "DXBC" in r.stderr
        r = run("shader", sub, missing)
        assert r.returncode != 0 and "cannot read" in r.stderr and "Traceback" not in r.stderr
        r = run("shader", sub, tmp_path)
        assert r.returncode != 0 and "is a folder" in r.stderr
    r = run("shader", "check", junk, "--no-wgpu")
    assert r.returncode == 1 and "invalid" in r.stdout and "junk.dxbc" in r.stdout
    r = run("shader", "check", tmp_path / "empty-folder-that-is-not-there")
    assert r.returncode != 0 and "no such file or folder" in r.stderr and "Traceback" not in r.stderr


def test_bad_checksum_is_refused_by_every_tool(tmp_path):
    data = bytearray(blob(VS).read_bytes())
    data[4] ^= 0xFF  # the stored checksum
    bad = tmp_path / "bad_checksum.dxbc"
    bad.write_bytes(bytes(data))
    for sub in ("disasm", "wgsl"):
        r = run("shader", sub, bad)
        assert r.returncode != 0 and "checksum" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture
def mixed_folder(tmp_path):
    """A folder the way users have them: shaders in subfolders, a root signature, a blob named
    without .dxbc, files that are not blobs."""
    folder = tmp_path / "shaders"
    (folder / "sub").mkdir(parents=True)
    for name in (VS, PS, CS, HS, ROOT_SIGNATURE):
        shutil.copy(blob(name), folder / "sub" / Path(name).name)
    shutil.copy(blob(PS), folder / "ps_without_extension.bin")  # found by its DXBC magic
    (folder / "notes.txt").write_text("not a shader")
    (folder / "sub" / "BasicEffect_VSBasic.asm").write_text("vs_4_0\n")
    return folder


def test_check_table_counts_and_exit_status(mixed_folder):
    r = run("shader", "check", mixed_folder)
    assert r.returncode == 0, r.stdout + r.stderr  # a refusal (the hull shader) is not a failure
    out = r.stdout
    total = next(line for line in out.splitlines() if line.startswith("| total"))
    cells = [c.strip() for c in total.strip("|").split("|")]
    # profile, blobs, translated, refused, invalid, error, wgpu ok, wgpu rejected, crashed
    assert cells == ["total", "5", "4", "1", "0", "0", "4", "0", "0"]
    assert "| vs_4_0_level_9 " in out and "| hs_5_0 " in out and "| cs_5_0 " in out
    assert "hull shaders are not supported" in out
    assert "skipped: 1 containers without a shader program" in out
    assert "5 shaders: 4 translated, 1 refused, 4 accepted by wgpu; 0 failed" in out


def test_check_json_and_no_wgpu(mixed_folder):
    r = run("shader", "check", mixed_folder, "--json", "--no-wgpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by_name = {Path(b["name"]).name: b for b in doc["blobs"]}
    assert set(by_name) == {"BasicEffect_VSBasic.dxbc", "BasicEffect_PSBasicTx.dxbc", "cs_1_store_code__0.dxbc",
                            "hs_cb_code__0.dxbc", "cbv_rootsig__0.dxbc", "ps_without_extension.bin"}
    assert by_name["hs_cb_code__0.dxbc"]["outcome"] == "refused"
    assert by_name["cbv_rootsig__0.dxbc"]["outcome"] == "not-a-shader"
    assert by_name["cs_1_store_code__0.dxbc"]["outcome"] == "translated"
    assert by_name["BasicEffect_VSBasic.dxbc"]["profile"] == "vs_4_0_level_9"
    assert doc["failures"] == 0 and doc["wgpu"] is False
    assert list(doc["refusals"]) == ["hull shaders are not supported"]


def test_a_wgpu_rejection_fails_the_check(mixed_folder, monkeypatch):
    """The writer's output goes to wgpu as it is; WGSL wgpu refuses is a failure (exit 1)
    naming the blob and wgpu's first line."""
    real = cli_shader.translate_one

    def broken(name, path, spec=None):
        r = real(name, path, spec)
        if r.outcome == "translated" and "VSBasic" in name:
            r.wgsl += "\nfn broken() -> u32 { return 1.5; }\n"
        return r

    monkeypatch.setattr(cli_shader, "translate_one", broken)
    results = cli_shader.run_check([str(mixed_folder)])
    vs = next(r for r in results if "VSBasic" in r.name)
    assert vs.outcome == "rejected" and vs.reason
    assert sum(r.outcome == "accepted" for r in results) == 3
    assert "failures (1):" in cli_shader.format_table(results)


CRASHING_CHILD = """
import json, os, sys
for job in json.loads(sys.stdin.read()):
    if "CRASH" in job["wgsl"]:
        sys.stderr.write("thread 'main' panicked at naga: a stand-in for a naga abort\\n")
        sys.stderr.flush()
        os.abort()
    print(json.dumps({"ok": True}), flush=True)
"""


def test_a_crashing_wgpu_child_costs_only_its_blob(monkeypatch):
    """naga can abort the process: the blob the child died on is reported as crashed, the
    rest of its batch goes to a fresh child."""
    monkeypatch.setattr(cli_shader, "child_command", lambda: [sys.executable, "-c", CRASHING_CHILD])
    results = [cli_shader.Result(f"b{i}", "ps_5_0", "translated", wgsl="CRASH" if i in (2, 5) else "ok",
                                 entry="pixel") for i in range(8)]
    batches = []
    real = cli_shader._run_child
    monkeypatch.setattr(cli_shader, "_run_child", lambda jobs: batches.append(len(jobs)) or real(jobs))
    cli_shader.compile_batches(results, batch=4, progress=lambda *a: None)
    assert [r.outcome for r in results] == ["accepted", "accepted", "crashed", "accepted",
                                            "accepted", "crashed", "accepted", "accepted"]
    assert "panicked" in results[2].reason and "died" in results[2].reason
    assert batches == [4, 4, 2]  # b0-b3 (dies on b2), b3-b6 (dies on b5), b6-b7
    assert "crashed" in cli_shader.format_table(results)


def test_reason_groups():
    g = cli_shader.reason_group
    assert g("geometry shaders are not supported (vertex, pixel and compute only)") == \
        "geometry shaders are not supported"
    assert g("sample_b: biased sampling of depth texture t3 (WGSL has none) (at token 40)") == \
        "sample_b: biased sampling of depth texture tN"
    assert g("dcl_temps: 5000 temps (at most 4096)") == "dcl_temps: N temps"
