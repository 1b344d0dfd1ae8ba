"""A short run of the DXBC fuzz campaign (benchmarks/shader_fuzz.py) in the suite, the
regression inputs it found (tests/shaders/data/fuzz/), and checks that the harness itself
sees a crash, a hang and a wgpu rejection. The long campaign: `python
benchmarks/shader_fuzz.py --count 1000000 --jobs 2` (figures in benchmarks/RESULTS.md)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import shader_fuzz as fuzz  # noqa: E402

sys.path.remove(str(REPO / "benchmarks"))

translate = pytest.importorskip("pvgpu.shaders.translate")
DATA = Path(__file__).parent / "data" / "fuzz"
#: inputs of the in-suite run (about 1 ms each here: a few seconds)
COUNT = 3000
WGPU_SAMPLES = 4


@pytest.fixture(scope="module")
def seeds():
    if not fuzz.CORPUS.is_dir():
        pytest.skip(f"the DXBC corpora are not at {fuzz.CORPUS} (see ../shared/dxbc/README.md)")
    seeds = fuzz.load_seeds(fuzz.CORPUS)
    fuzz.partners(seeds, translate)  # random specializations link VS and PS mutants with corpus shaders
    return seeds


@pytest.fixture(autouse=True)
def cpu_timer():
    previous = signal.signal(signal.SIGPROF, fuzz._on_timeout)
    yield
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.signal(signal.SIGPROF, previous)


def describe(outcome: fuzz.Outcome, how: str) -> str:
    return f"{how}: {outcome.stage} {outcome.kind} at {outcome.where}: {outcome.message}"


def test_mutants_are_deterministic_and_keep_the_checksum(seeds):
    from pvgpu.shaders import container  # noqa: PLC0415
    from pvgpu.shaders.errors import ShaderError  # noqa: PLC0415
    assert fuzz.mutant(seeds, 7, 123) == fuzz.mutant(seeds, 7, 123)
    assert fuzz.mutant(seeds, 7, 123) != fuzz.mutant(seeds, 7, 124)
    checksum_refusals = 0
    for index in range(300):
        blob, _ = fuzz.mutant(seeds, 7, index)
        try:
            container.parse(blob)
        except ShaderError as e:
            checksum_refusals += "checksum" in str(e)
    assert checksum_refusals == 0  # re-checksummed: the mutations reach past the checksum


def test_short_campaign(seeds, monkeypatch):
    """COUNT mutants of the corpus (byte-level and, with the encoder, IR-level), through container,
    decoder, load and writer (DEFAULT or a random specialization): only
    ShaderError escapes, none takes 2 s; a sample of the translations compiled by wgpu in a
    child process is accepted; a fair share of the mutants reach the writer and translate.
    Translations get the device's wgpu features, as the host's base specialization does."""
    child = fuzz.WgpuChild()
    monkeypatch.setattr(fuzz, "FEATURES", child.features())
    findings, outcomes, translated = [], {}, []
    start = time.perf_counter()
    for index in range(COUNT):
        blob, how = fuzz.mutant(seeds, 20260, index)
        outcome = fuzz.run_one(blob, translate, time_limit=2.0, spec_rng=fuzz.spec_random(20260, index))
        outcomes[outcome.stage] = outcomes.get(outcome.stage, 0) + 1
        if outcome.is_finding or outcome.seconds > 2.0:
            findings.append(describe(outcome, f"input 20260:{index} ({how})"))
        if outcome.wgsl is not None:
            translated.append((how, outcome.wgsl))
    elapsed = time.perf_counter() - start
    try:
        assert not findings, "\n".join(findings[:10])
        assert outcomes.get("translated", 0) > COUNT // 20, outcomes
        assert outcomes.get("writer", 0) > 0 and outcomes.get("decoder", 0) > 0, outcomes
        if fuzz.encoder is not None:
            assert outcomes.get("writer-spec", 0) > 0, outcomes
        step = max(1, len(translated) // WGPU_SAMPLES)
        for how, wgsl in translated[::step][:WGPU_SAMPLES]:
            status, message = child.check(wgsl)
            assert status == "ok", f"{how}: wgpu {status}: {message[:2000]}\n{wgsl[:3000]}"
    finally:
        child.close()
    print(f"{COUNT} inputs in {elapsed:.1f} s: {outcomes}")


def regression_inputs() -> list[Path]:
    return sorted(DATA.glob("*.dxbc")) if DATA.is_dir() else []


@pytest.mark.parametrize("path", regression_inputs(), ids=lambda p: p.stem)
def test_regression_inputs(path):
    """Inputs the campaign once found (a crash, a hang, WGSL wgpu refused): now refused
    cleanly, or translated into WGSL that wgpu accepts."""
    outcome = fuzz.run_one(path.read_bytes(), translate, time_limit=2.0)
    assert not outcome.is_finding, describe(outcome, path.name)
    if outcome.wgsl is not None:
        child = fuzz.WgpuChild()
        try:
            status, message = child.check(outcome.wgsl)
        finally:
            child.close()
        assert status == "ok", f"{path.name}: wgpu {status}: {message[:2000]}"


# --- the harness sees what it hunts ------------------------------------------------------------------

def fake_translate(load=None, to_wgsl=None):
    return SimpleNamespace(load=load or (lambda code: code), to_wgsl=to_wgsl or (lambda shader: "fn f() {}"))


def test_harness_reports_a_crash_with_its_place(seeds):
    def load(code):
        return {}["missing"]
    outcome = fuzz.run_one(seeds[0].blob, fake_translate(load=load))
    assert outcome.is_finding and outcome.kind == "KeyError" and "missing" in outcome.message


def test_harness_stops_a_hang():
    def to_wgsl(shader):
        while True:
            pass
    start = time.perf_counter()
    outcome = fuzz.run_one(b"", fake_translate(to_wgsl=to_wgsl), time_limit=0.3)
    assert outcome.is_finding and outcome.kind == "Timeout" and outcome.stage == "writer"
    assert time.perf_counter() - start < 10


def test_harness_sees_a_wgpu_rejection_and_a_dead_child():
    child = fuzz.WgpuChild()
    try:
        assert child.check("@compute @workgroup_size(1) fn main() {}") == ("ok", "")
        status, message = child.check("fn main( {")
        assert status == "rejected" and message
        child.proc.kill()
        child.proc.wait()
        assert child.check("@compute @workgroup_size(1) fn main() {}")[0] == "ok"  # a fresh child
    finally:
        child.close()


def test_mutants_through_the_host(seeds, device):
    """Mutants given to the guest API's create_*_shader (matching the corpus blob's stage):
    each is created or reported as a host error naming DXBC, never anything else; the session
    still creates a valid shader afterwards (the worker did not die)."""
    from pvgpu.errors import HostReportedError  # noqa: PLC0415
    from pvgpu.shaders import container  # noqa: PLC0415
    from pvgpu.shaders.errors import ShaderError  # noqa: PLC0415
    create = {0: device.create_pixel_shader, 1: device.create_vertex_shader, 5: device.create_compute_shader}
    created = refused = 0
    for index in range(120):
        blob, how = fuzz.mutant(seeds, 424242, index)
        try:
            kind = int(container.parse(blob).program_type)
        except ShaderError:
            kind = 0
        create.get(kind, device.create_pixel_shader)(blob)
        try:
            device.connection.finish()
            created += 1
        except HostReportedError as e:
            assert "DXBC" in str(e) or "shader" in str(e).lower(), f"{how}: {e}"
            refused += 1
    valid = next(s for s in seeds if s.program_type == 0)
    device.create_pixel_shader(valid.blob)
    device.connection.finish()
    assert created and refused, (created, refused)


def _with_dimension(seed, k: int, dimension) -> bytes:
    from dataclasses import replace  # noqa: PLC0415
    program = seed.program
    instructions = list(program.instructions)
    instructions[k] = replace(instructions[k], resource_dimension=dimension)
    blob = fuzz.Blob(seed)
    blob.resize_program(blob.at, blob.size, fuzz.encoder.encode(replace(program, instructions=tuple(instructions))),
                        fix_length=False)
    return blob.finish()


def _compile(child, wgsl: str, counts: dict, failures: list, what: str) -> None:
    """Compile `wgsl` in the wgpu child: count an acceptance, or note a rejection as `what`."""
    status, message = child.check(wgsl)
    counts["accepted"] += status == "ok"
    if status != "ok":
        gist = [line.strip() for line in message.splitlines() if line.strip().startswith("=")]
        failures.append(f"{what}: wgpu {status}: {gist[-1] if gist else message[:300]}")


def test_resource_dimension_sweep(seeds):
    """Each t# / typed u# declaration of the corpus's VS/PS/CS set to every other dimension (once
    per distinct set of instructions that use it and new dimension): refused with a ShaderError,
    or translated into WGSL that wgpu accepts. This is how the campaign's first wgpu rejection
    (sampling a texture2dms) was found; the sweep covers its whole class."""
    if fuzz.encoder is None:
        pytest.skip("no encoder")
    from pvgpu.shaders import ir  # noqa: PLC0415
    from pvgpu.shaders.errors import ShaderError  # noqa: PLC0415
    from pvgpu.shaders.specialization import Specialization  # noqa: PLC0415
    kinds = {"dcl_resource": ir.OperandType.RESOURCE, "dcl_uav_typed": ir.OperandType.UNORDERED_ACCESS_VIEW}
    dimensions = [d for d in ir.ResourceDimension if d not in (ir.ResourceDimension.UNKNOWN, ir.ResourceDimension.RAW_BUFFER,
                                                               ir.ResourceDimension.STRUCTURED_BUFFER)]
    child = fuzz.WgpuChild()
    spec = Specialization(features=child.features())
    seen, rejected, counts = set(), [], {"refused": 0, "accepted": 0}
    try:
        for seed in seeds:
            if seed.program_type not in fuzz.TRANSLATED_TYPES:
                continue
            for k, ins in enumerate(seed.program.instructions):
                if ins.name not in kinds:
                    continue
                slot = ins.operands[0].indices[0].immediate
                users = tuple(sorted({i.name for i in seed.program.instructions if not i.name.startswith("dcl_") and any(
                    o.type == kinds[ins.name] and o.indices and o.indices[0].immediate == slot for o in i.operands)}))
                for dimension in dimensions:
                    if dimension == ins.resource_dimension or (ins.name, users, dimension) in seen:
                        continue
                    seen.add((ins.name, users, dimension))
                    try:
                        wgsl = translate.to_wgsl(translate.load(_with_dimension(seed, k, dimension)), spec)
                    except ShaderError:
                        counts["refused"] += 1
                        continue
                    _compile(child, wgsl, counts, rejected,
                             f"{seed.name} {ins.name} {ins.resource_dimension.name} -> {dimension.name} "
                             f"(used by {', '.join(users)})")
    finally:
        child.close()
    assert not rejected, f"{len(rejected)} rejected ({counts}):\n" + "\n".join(rejected)
    assert counts["accepted"] > 20, counts


def test_texture_kind_sweep(seeds):
    """Each t# of the corpus's VS/PS/CS specialized to every texture kind a bound view can give
    it (depth, uint, sint, unfilterable, float), once per distinct set of instructions using it:
    refused with a ShaderError, or WGSL that wgpu accepts."""
    from pvgpu.shaders import ir  # noqa: PLC0415
    from pvgpu.shaders import specialization as sp  # noqa: PLC0415
    from pvgpu.shaders.errors import ShaderError  # noqa: PLC0415
    child = fuzz.WgpuChild()
    features = child.features()
    seen, rejected, counts = set(), [], {"refused": 0, "accepted": 0}
    try:
        for seed in seeds:
            if seed.program_type not in fuzz.TRANSLATED_TYPES:
                continue
            try:
                shader = translate.load(seed.blob)
            except ShaderError:
                continue
            for slot, (dimension, _) in sorted(shader.textures.items()):
                users = tuple(sorted({i.name for i in seed.program.instructions if not i.name.startswith("dcl_") and any(
                    o.type == ir.OperandType.RESOURCE and o.indices and o.indices[0].immediate == slot
                    for o in i.operands)}))
                for kind in sp.TEXTURE_KINDS:
                    if (users, dimension, kind) in seen:
                        continue
                    seen.add((users, dimension, kind))
                    spec = sp.Specialization(features=features, textures=((slot, kind),))
                    try:
                        wgsl = translate.to_wgsl(shader, spec)
                    except ShaderError:
                        counts["refused"] += 1
                        continue
                    _compile(child, wgsl, counts, rejected,
                             f"{seed.name} t{slot} {dimension.name} as {kind} (used by {', '.join(users)})")
    finally:
        child.close()
    assert not rejected, f"{len(rejected)} rejected ({counts}):\n" + "\n".join(rejected)
    assert counts["accepted"] > 20, counts


@pytest.mark.slow
def test_opcode_swap_sweep(seeds):
    """Each instruction of the corpus's VS/PS/CS replaced by every other opcode of the same
    operand layout (add -> mul/div/dp4..., sample -> gather4, ld -> ld_uav_typed, eq -> lt...),
    once per (old, new, dimensions of its resources, stage): refused with a ShaderError, or WGSL
    that wgpu accepts (1,142 variants here: 670 accepted, 472 refused)."""
    if fuzz.encoder is None:
        pytest.skip("no encoder")
    from dataclasses import replace  # noqa: PLC0415
    from pvgpu.shaders import ir  # noqa: PLC0415
    from pvgpu.shaders.errors import ShaderError  # noqa: PLC0415
    from pvgpu.shaders.specialization import Specialization  # noqa: PLC0415
    views = (ir.OperandType.RESOURCE, ir.OperandType.UNORDERED_ACCESS_VIEW)
    child = fuzz.WgpuChild()
    spec = Specialization(features=child.features())
    seen, failures, counts = set(), [], {"refused": 0, "accepted": 0}
    try:
        for seed in seeds:
            if seed.program_type not in fuzz.TRANSLATED_TYPES:
                continue
            program = seed.program
            dimensions = {(i.operands[0].type, i.operands[0].indices[0].immediate): (i.name, i.resource_dimension)
                          for i in program.instructions
                          if i.name.startswith(("dcl_resource", "dcl_uav")) and i.operands and i.operands[0].indices}
            for k, ins in enumerate(program.instructions):
                info = fuzz.opcodes.by_number(ins.opcode)
                if info is None or info.is_declaration:
                    continue
                used = tuple(dimensions.get((o.type, o.indices[0].immediate)) for o in ins.operands
                             if o.type in views and o.indices)
                for other in fuzz._SAME_LAYOUT[info.layout]:
                    if other.number == ins.opcode or (ins.name, other.name, used, seed.program_type) in seen:
                        continue
                    seen.add((ins.name, other.name, used, seed.program_type))
                    swapped = replace(program, instructions=program.instructions[:k] + (
                        replace(ins, name=other.name, opcode=other.number),) + program.instructions[k + 1:])
                    blob = fuzz.Blob(seed)
                    blob.resize_program(blob.at, blob.size, fuzz.encoder.encode(swapped), fix_length=False)
                    what = f"{seed.name}: {ins.name} -> {other.name} (resources {used})"
                    try:
                        wgsl = translate.to_wgsl(translate.load(blob.finish()), spec)
                    except ShaderError:
                        counts["refused"] += 1
                        continue
                    except Exception as e:  # noqa: BLE001 (a crash is what this hunts)
                        failures.append(f"{what}: {type(e).__name__}: {e}")
                        continue
                    _compile(child, wgsl, counts, failures, what)
    finally:
        child.close()
    assert not failures, f"{len(failures)} failures ({counts}):\n" + "\n".join(failures)
    assert counts["accepted"] > 100, counts
