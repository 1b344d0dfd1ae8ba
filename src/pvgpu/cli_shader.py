"""`pvgpu shader ...`: the DXBC tools.

    pvgpu shader disasm FILE            fxc-style assembly (signatures, declarations, code)
    pvgpu shader wgsl FILE [options]    the WGSL of one specialization (default: the declarations')
    pvgpu shader check FILE|DIR...      translate every blob, compile each WGSL with wgpu, print a
                                        coverage table (per profile: translated, refused and why,
                                        accepted or rejected by wgpu)

`check` compiles in child processes, one per batch of blobs: naga (wgpu's shader compiler) can
abort the process on input it mishandles, and that must cost one blob, not the run. A child
prints one result line per blob as it goes; when it dies, the blob it was on is reported as
crashed and the rest of its batch goes to a fresh child.

The translator itself (`pvgpu.shaders`) is sans-IO; reading files, processes and wgpu live here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from .errors import PvgpuError

MAX_BLOB_BYTES = 1 << 24  # a file larger than this is not a shader
BATCH = 64  # blobs per wgpu child process
CHILD_TIMEOUT_S = 120.0  # per batch; a hung child's current blob is reported as crashed

#: check's outcome per blob, and whether it fails the run.
#:   accepted: translated, and wgpu compiled the WGSL (a compute pipeline too, for CS)
#:   translated: translated, wgpu not asked (--no-wgpu)
#:   refused: ShaderUnsupported: something pvgpu does not offer (expected, not a failure)
#:   not-a-shader: a container without a shader program (a D3D12 root signature; skipped)
#:   invalid: ShaderInvalid: the blob breaks the DXBC format (a failure: a corpus blob is valid)
#:   error: the translator raised something other than a ShaderError (a bug)
#:   rejected: wgpu refused the translated WGSL (a bug in the writer)
#:   crashed: the wgpu child died or hung on this blob
OUTCOMES = ("accepted", "translated", "refused", "not-a-shader", "invalid", "error", "rejected", "crashed")
FAILURES = frozenset({"invalid", "error", "rejected", "crashed"})


# --- arguments --------------------------------------------------------------------------------

def _slot_value(text: str, what: str, choices: tuple[str, ...] | None = None, prefix: str = "") -> tuple[int, str]:
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if not sep or not name.isdigit() or not value:
        raise argparse.ArgumentTypeError(f"{what} {text!r} is not SLOT=VALUE (e.g. {prefix or ''}0=...)")
    value = value.strip()
    if choices is not None and value not in choices:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: {value!r} is not one of {', '.join(choices)}")
    return int(name), value


def _cb_size(text: str) -> tuple[int, int]:
    slot, value = _slot_value(text, "--cb-size", None, "cb")
    if not value.isdigit() or int(value) > 4096:
        raise argparse.ArgumentTypeError(f"--cb-size {text!r}: VEC4S must be 0..4096 vectors")
    return slot, int(value)


def add_parser(sub, func) -> None:
    """Adds `pvgpu shader` and its subcommands to the `pvgpu` parser."""
    from .shaders.specialization import TEXTURE_KINDS  # plain data, no wgpu

    sh = sub.add_parser("shader", help="DXBC shader tools: disassemble, translate to WGSL, check coverage")
    ssub = sh.add_subparsers(dest="shader_command", required=True)

    d = ssub.add_parser("disasm", help="print a DXBC blob as fxc-style assembly (signatures included)")
    d.add_argument("file", help="a DXBC container (what fxc writes, D3DCompile returns)")

    w = ssub.add_parser("wgsl", help="print the WGSL pvgpu translates a DXBC blob to")
    w.add_argument("file", help="a DXBC container")
    w.add_argument("--texture", action="append", default=[], metavar="SLOT=KIND",
                   type=lambda t: _slot_value(t, "--texture", TEXTURE_KINDS, "t"),
                   help=f"specialize t# SLOT to a texture KIND ({', '.join(TEXTURE_KINDS)}); "
                        f"default: from its declared return type")
    w.add_argument("--storage-format", action="append", default=[], metavar="SLOT=FMT",
                   type=lambda t: _slot_value(t, "--storage-format", None, "u"),
                   help="specialize typed texture UAV u# SLOT to a WebGPU storage format (e.g. rgba8unorm); "
                        "default: rgba32float/uint/sint by declared type (r32* where the shader reads it)")
    w.add_argument("--vertex-input", action="append", default=[], metavar="LOC=TYPE",
                   type=lambda t: _slot_value(t, "--vertex-input", ("f32", "u32", "i32")),
                   help="the scalar type the input layout feeds VS input location LOC, the element's "
                        "position in the input signature (f32, u32, i32)")
    w.add_argument("--cb-size", action="append", default=[], metavar="SLOT=VEC4S",
                   type=_cb_size,
                   help="constant buffer cb# SLOT is bound with only VEC4S vectors (reads past them give 0)")
    w.add_argument("--typed-buffer", action="append", default=[], metavar="tN|uN=COMPONENTS",
                   help="a typed buffer view bound at t# or u# has COMPONENTS 32-bit values per element (1..4)")
    w.add_argument("--feature", action="append", default=[], metavar="NAME",
                   help="a wgpu feature the host device has (clip-distances, primitive-index, texture-atomic, "
                        "shader-early-depth-test); none by default")

    c = ssub.add_parser("check", help="translate every blob, compile with wgpu, print a coverage table")
    c.add_argument("paths", nargs="+", metavar="FILE|DIR",
                   help="blobs, or folders searched recursively for *.dxbc and files starting with DXBC")
    c.add_argument("--no-wgpu", action="store_true", help="translate only; do not compile with wgpu")
    c.add_argument("--json", action="store_true", help="print the results as JSON (one object) instead")
    c.add_argument("--batch", type=int, default=BATCH, help=f"blobs per wgpu child process (default {BATCH})")
    c.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sh.set_defaults(func=func)


def main(args: argparse.Namespace) -> int:
    return {"disasm": cmd_disasm, "wgsl": cmd_wgsl, "check": cmd_check}[args.shader_command](args)


# --- disasm, wgsl -----------------------------------------------------------------------------

def read_blob(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if os.path.isdir(path):
            raise PvgpuError(f"{path} is a folder; give a DXBC file (`pvgpu shader check` takes folders)")
        if size > MAX_BLOB_BYTES:
            raise PvgpuError(f"{path}: {size} bytes is too large for a shader (at most {MAX_BLOB_BYTES})")
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PvgpuError(f"cannot read {path}: {e.strerror or e}") from None


def _where(path: str, e: Exception) -> PvgpuError:
    from .shaders.errors import ShaderUnsupported
    kind = "pvgpu does not translate it" if isinstance(e, ShaderUnsupported) else "not a valid DXBC shader"
    return PvgpuError(f"{path}: {kind}: {e}")


def cmd_disasm(args: argparse.Namespace) -> int:
    from .shaders import container, decoder, disasm
    from .shaders.errors import ShaderError

    code = read_blob(args.file)
    try:
        blob = container.parse(code)
        program = decoder.decode(blob.tokens)
    except ShaderError as e:
        raise _where(args.file, e) from None
    sys.stdout.write(disasm.disassemble(program, blob))
    return 0


def specialization_from(args: argparse.Namespace):
    from .shaders.specialization import DEFAULT, Specialization

    typed = []
    for text in args.typed_buffer:
        name, _, value = text.partition("=")
        name = name.strip().lower()
        if not re.fullmatch(r"[tu]\d+", name) or value.strip() not in ("1", "2", "3", "4"):
            raise PvgpuError(f"--typed-buffer {text!r} is not tN=1..4 or uN=1..4")
        typed.append((name, int(value)))
    fields = {
        "textures": tuple(sorted(dict(args.texture).items())),
        "storage_formats": tuple(sorted(dict(args.storage_format).items())),
        "vertex_inputs": tuple(sorted(dict(args.vertex_input).items())),
        "constant_buffer_sizes": tuple(sorted(dict(args.cb_size).items())),
        "typed_buffers": tuple(sorted(dict(typed).items())),
        "features": frozenset(args.feature),
    }
    return Specialization(**fields) if any(fields.values()) else DEFAULT


def cmd_wgsl(args: argparse.Namespace) -> int:
    from .shaders import translate
    from .shaders.errors import ShaderError

    spec = specialization_from(args)
    code = read_blob(args.file)
    try:
        source = translate.to_wgsl(translate.load(code), spec)
    except ShaderError as e:
        raise _where(args.file, e) from None
    sys.stdout.write(source if source.endswith("\n") else source + "\n")
    return 0




# --- check ------------------------------------------------------------------------------------

@dataclass
class Result:
    """One blob's outcome in `pvgpu shader check`."""
    name: str  # the path as given or relative to the folder given
    profile: str = "?"  # ps_4_0, vs_4_0_level_9 (an Aon9 chunk beside the SM4 code), ...
    outcome: str = "invalid"
    reason: str = ""  # refusal, invalid, error: the translator's message; rejected/crashed: wgpu's
    wgsl_bytes: int = 0
    translate_ms: float = 0.0
    wgsl: str = field(default="", repr=False)
    entry: str = field(default="", repr=False)


def collect(paths: list[str]) -> list[tuple[str, str]]:
    """(display name, path) of every blob: files named as given, folders searched recursively
    for *.dxbc and for files that start with b"DXBC" (sorted, each file once)."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for top in paths:
        if os.path.isdir(top):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for fn in sorted(files):
                    p = os.path.join(root, fn)
                    if fn.lower().endswith(".dxbc") or _starts_dxbc(p):
                        real = os.path.realpath(p)
                        if real not in seen:
                            seen.add(real)
                            found.append((os.path.relpath(p, os.path.dirname(os.path.abspath(top.rstrip("/")))), p))
        elif os.path.exists(top):
            real = os.path.realpath(top)
            if real not in seen:
                seen.add(real)
                found.append((top, top))
        else:
            raise PvgpuError(f"{top}: no such file or folder")
    return found


def _starts_dxbc(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"DXBC"
    except OSError:
        return False


def reason_group(message: str) -> str:
    """The first words of a refusal, for grouping: numbers become N, parentheses are dropped."""
    text = re.sub(r"\(.*?\)|\(.*$", "", message)
    text = re.sub(r"\b(r|v|o|t|s|u|cb|x|g|icb|l)\d+\b", r"\1N", text)  # registers: t3 -> tN
    text = re.sub(r"\b\d+\b", "N", text).strip().rstrip(":;,. ")
    words = text.split()
    return " ".join(words[:7]) + (" ..." if len(words) > 7 else "")


def host_specialization():
    """The specialization a host on this machine starts from: its device's shader features."""
    from .host import gpu
    from .host.render.dxbc import base_specialization
    return base_specialization(gpu.device_features())


def translate_one(name: str, path: str, spec=None) -> Result:
    """Reads, parses, decodes and translates one blob (`spec`: default specialization)."""
    from .shaders import container, translate
    from .shaders.errors import ShaderError, ShaderInvalid

    r = Result(name)
    try:
        code = read_blob(path)
    except PvgpuError as e:
        r.reason = str(e)
        return r
    start = time.perf_counter()
    try:
        blob = container.parse(code)
        r.profile = f"{blob.program_type.prefix}_{blob.major}_{blob.minor}"
        if "Aon9" in blob.chunks:
            r.profile += "_level_9"
        shader = translate.load(code)
        r.wgsl = translate.to_wgsl(shader) if spec is None else translate.to_wgsl(shader, spec)
        r.outcome = "translated"
        r.wgsl_bytes = len(r.wgsl.encode())
        r.entry = shader.stage.name.lower()
    except ShaderInvalid as e:
        if e.message.startswith("no shader program chunk"):
            r.outcome, r.profile = "not-a-shader", "(no shader)"
        else:
            r.outcome = "invalid"
        r.reason = str(e)
    except ShaderError as e:
        r.outcome, r.reason = "refused", str(e)
    except RecursionError:
        r.outcome, r.reason = "error", "RecursionError: the translator recursed too deeply"
    except Exception as e:  # noqa: BLE001 -- a translator bug: report it, go on with the others
        r.outcome, r.reason = "error", f"{type(e).__name__}: {e}"
    r.translate_ms = (time.perf_counter() - start) * 1e3
    return r


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def compile_batches(results: list[Result], batch: int, progress) -> None:
    """Compiles every translated result's WGSL with wgpu in child processes; sets outcome."""
    pending = [r for r in results if r.outcome == "translated"]
    done = 0
    while pending:
        chunk, pending = pending[:batch], pending[batch:]
        jobs = [{"wgsl": r.wgsl, "stage": r.entry} for r in chunk]
        lines, died = _run_child(jobs)
        for r, line in zip(chunk, lines):
            r.outcome = "accepted" if line.get("ok") else "rejected"
            r.reason = line.get("error", "")
        finished = len(lines)
        if finished < len(chunk):
            culprit = chunk[finished]
            culprit.outcome, culprit.reason = "crashed", died or "the wgpu process ended without a result"
            pending = chunk[finished + 1:] + pending  # the rest of the batch, in a fresh child
            finished += 1
        done += finished
        progress("wgpu", done)


def child_command() -> list[str]:
    """The wgpu child's command line (tests replace it with one that crashes)."""
    return [sys.executable, "-m", "pvgpu.cli_shader", "--wgpu-child"]


def _run_child(jobs: list[dict]) -> tuple[list[dict], str]:
    """(one result per job the child finished, why it stopped early or "")."""
    payload = json.dumps(jobs)
    try:
        proc = subprocess.run(child_command(), input=payload, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                              env=_child_env())
        out, err, code = proc.stdout, proc.stderr, proc.returncode
        why = "" if code == 0 else f"the wgpu process died (exit {code}): {_last_line(err)}"
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        why = f"the wgpu process did not finish in {CHILD_TIMEOUT_S:.0f} s"
    lines = []
    for text in out.splitlines():
        if text.startswith("{"):
            try:
                lines.append(json.loads(text))
            except ValueError:
                break
    if not lines and why == "" and jobs:
        why = "the wgpu process printed nothing"
    return lines[:len(jobs)], why


def _last_line(text: str) -> str:
    useful = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    panic = [ln for ln in useful if "panicked" in ln or "error" in ln.lower()]
    return (panic[0] if panic else useful[-1] if useful else "no message")[:300]


def _first_line(text: str) -> str:
    for ln in text.splitlines():
        ln = ln.strip()
        if ln and not set(ln) <= set("─┌│└ ^~-=") and not ln.startswith(("┌", "│", "└")):
            return ln[:300]
    return text.strip()[:300]


def wgpu_child() -> int:
    """The child: compile each job's WGSL on one device; one JSON line per job, flushed."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    jobs = json.loads(sys.stdin.read())
    from .host import gpu
    device, _ = gpu.open_device()
    for job in jobs:
        try:
            module = device.create_shader_module(code=job["wgsl"])
            if job.get("stage") == "compute":
                entry = re.search(r"@compute\s+@workgroup_size\([^)]*\)\s*fn\s+(\w+)", job["wgsl"])
                device.create_compute_pipeline(layout="auto", compute={
                    "module": module, "entry_point": entry.group(1) if entry else "main"})
            line = {"ok": True}
        except Exception as e:  # noqa: BLE001 -- wgpu reports validation errors as exceptions
            line = {"ok": False, "error": _first_line(f"{type(e).__name__}: {e}")}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    return 0


def _progress_printer(total: int, quiet: bool):
    tty = sys.stderr.isatty()
    last = {"t": time.monotonic()}  # the first line after a moment, not at once

    def show(phase: str, done: int) -> None:
        if quiet or total < 20:
            return
        now = time.monotonic()
        if done < total and now - last["t"] < (0.2 if tty else 5.0):
            return
        last["t"] = now
        text = f"pvgpu shader check: {phase} {done}/{total}"
        if tty:
            sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
    return show


def run_check(paths: list[str], wgpu: bool = True, batch: int = BATCH, quiet: bool = True) -> list[Result]:
    """Every blob under `paths`, translated and (with `wgpu`) compiled."""
    blobs = collect(paths)
    show = _progress_printer(len(blobs), quiet)
    results = []
    spec = host_specialization() if wgpu else None  # the features the wgpu children compile with
    for i, (name, path) in enumerate(blobs):
        results.append(translate_one(name, path, spec))
        show("translating", i + 1)
    translated = sum(1 for r in results if r.outcome == "translated")
    if wgpu and translated:
        show2 = _progress_printer(translated, quiet)
        compile_batches(results, max(1, batch), show2)
    return results


def summary(results: list[Result], wgpu: bool = True) -> dict:
    per: dict[str, Counter] = defaultdict(Counter)
    reasons: dict[str, list[str]] = defaultdict(list)
    for r in results:
        per[r.profile][r.outcome] += 1
        if r.outcome == "refused":
            reasons[reason_group(r.reason)].append(r.name)
    total = Counter()
    for c in per.values():
        total.update(c)
    return {
        "wgpu": wgpu,
        "profiles": {p: dict(c) for p, c in sorted(per.items())},
        "total": dict(total),
        "refusals": {k: v for k, v in sorted(reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))},
        "failures": sum(total[o] for o in FAILURES),
    }


def format_table(results: list[Result], wgpu: bool = True) -> str:
    s = summary(results, wgpu)
    cols = [("blobs", None), ("translated", ("accepted", "translated", "rejected", "crashed")),
            ("refused", ("refused",)), ("invalid", ("invalid",)), ("error", ("error",))]
    if wgpu:
        cols += [("wgpu ok", ("accepted",)), ("wgpu rejected", ("rejected",)), ("crashed", ("crashed",))]
    out = []
    head = f"| {'profile':<18} |" + "|".join(f" {name:>{max(7, len(name))}} " for name, _ in cols) + "|"
    out.append(head)
    out.append("|" + "-" * 20 + "|" + "|".join("-" * (max(7, len(n)) + 2) for n, _ in cols) + "|")

    def row(label: str, c: dict) -> str:
        cells = []
        for name, keys in cols:
            value = sum(c.values()) - c.get("not-a-shader", 0) if keys is None else sum(c.get(k, 0) for k in keys)
            cells.append(f" {value:>{max(7, len(name))}} ")
        return f"| {label:<18} |" + "|".join(cells) + "|"

    for profile, c in s["profiles"].items():
        if profile != "(no shader)":
            out.append(row(profile, c))
    out.append(row("total", s["total"]))
    skipped = s["total"].get("not-a-shader", 0)
    if skipped:
        out.append(f"\nskipped: {skipped} containers without a shader program (root signatures)")
    if s["refusals"]:
        out.append(f"\nrefused ({s['total'].get('refused', 0)}), by reason:")
        for reason, names in s["refusals"].items():
            example = names[0] + (f", +{len(names) - 1} more" if len(names) > 1 else "")
            out.append(f"  {len(names):4}  {reason}   [{example}]")
    bad = [r for r in results if r.outcome in FAILURES]
    if bad:
        out.append(f"\nfailures ({len(bad)}):")
        for r in bad:
            out.append(f"  {r.outcome:<8} {r.name}: {r.reason.splitlines()[0] if r.reason else ''}")
    t = s["total"]
    translated = sum(t.get(k, 0) for k in ("accepted", "translated", "rejected", "crashed"))
    shaders = sum(t.values()) - skipped
    line = f"\n{shaders} shaders: {translated} translated, {t.get('refused', 0)} refused"
    if wgpu:
        line += f", {t.get('accepted', 0)} accepted by wgpu"
    line += f"; {len(bad)} failed" + (" (exit 1)" if bad else "")
    out.append(line)
    return "\n".join(out) + "\n"


def cmd_check(args: argparse.Namespace) -> int:
    wgpu = not args.no_wgpu
    results = run_check(args.paths, wgpu=wgpu, batch=args.batch, quiet=args.quiet or args.json)
    if not results:
        raise PvgpuError(f"no DXBC blobs in {' '.join(args.paths)} (*.dxbc, or files starting with DXBC)")
    if args.json:
        doc = summary(results, wgpu)
        doc["blobs"] = [{k: v for k, v in asdict(r).items() if k not in ("wgsl", "entry")} for r in results]
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        sys.stdout.write(format_table(results, wgpu))
    return 1 if any(r.outcome in FAILURES for r in results) else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--wgpu-child"]:
        sys.exit(wgpu_child())
    sys.exit("usage: python -m pvgpu.cli_shader --wgpu-child < jobs.json  (pvgpu shader check runs it)")
