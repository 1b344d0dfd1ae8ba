"""The C guest library include/pvgpu_guest.h: its generated encoders are current and write
exactly the Python codec's bytes, its ring writer, heap allocator, fences and error-log reader
work against a host simulated in C (tests/c/guest_fake_host.c), and the C example guest
(examples/c_guest) draws the expected frames through a real `pvgpu serve --ivshmem`, acting
as QEMU would. Everything is built with gcc -std=c11 and g++ -std=c++17, -Wall -Wextra
-Werror -pedantic."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pvgpu.protocol import codec
from pvgpu.protocol.cguest import generate_guest_encoders, generated_part
from pvgpu.protocol.enums import ErrorCode
from pvgpu.protocol.spec import PROTOCOL_MAJOR, PROTOCOL_MINOR
from pvgpu.protocol.types import F32, I32, U32, U64, Field

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"
GUEST_HEADER = INCLUDE / "pvgpu_guest.h"
FAKE_HOST = Path(__file__).resolve().parent / "c" / "guest_fake_host.c"
EXAMPLE = ROOT / "examples" / "c_guest" / "c_guest.c"
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-pedantic"]
LANGUAGES = {"c11": ["gcc", "-std=c11"], "c++17": ["g++", "-std=c++17", "-x", "c++"]}
FAKE_RING_SIZE = 4096

needs_compilers = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("g++") is None,
                                     reason="gcc and g++ are needed")


def compile_program(language: str, source: Path, out: Path, *extra: str) -> Path:
    cmd = [*LANGUAGES[language], *WARNINGS, f"-I{INCLUDE}", *extra, str(source), "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr}"
    return out


def test_committed_guest_header_is_current() -> None:
    assert generated_part(GUEST_HEADER.read_text()) == generate_guest_encoders(), (
        "the generated encoders in include/pvgpu_guest.h are out of date with the spec; "
        "run `python -m pvgpu.protocol.cguest include/pvgpu_guest.h`")


def test_every_command_has_an_encoder() -> None:
    text = GUEST_HEADER.read_text()
    missing = [c.name for c in codec.LAYOUTS.values()
               if f"static inline uint64_t pvgpu_emit_{c.name.lower()}(PvgpuGuest *guest" not in text]
    assert missing == []


@pytest.mark.parametrize("compiler", [["gcc", "-std=c17"], ["g++", "-std=c++20", "-x", "c++"]], ids=" ".join)
def test_header_compiles_cleanly_with_later_standards(compiler: list[str], tmp_path: Path) -> None:
    """The atomics layer has three variants (C11 _Atomic, C++17 std::atomic, C++20
    std::atomic_ref): the later standards' compile warning-free too (C11 and C++17 are built
    by every other test here)."""
    source = tmp_path / "use.c"
    source.write_text('#include "pvgpu_guest.h"\nint main(void) { PvgpuFrameStats s; (void)s; return 0; }\n')
    cmd = [*compiler, *WARNINGS, f"-I{INCLUDE}", "-c", str(source), "-o", str(tmp_path / "use.o")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stderr}"


# --- encoders, ring, heap and error log against a host simulated in C -------------------------

def _value(seed: int, index: int, field: Field):
    """A value of the field's wire type that differs per command and field (floats exact)."""
    if field.wire is U32:
        return (seed * 1000 + index * 7 + 1) & 0xFFFFFFFF
    if field.wire is I32:
        return -(seed * 100 + index) - 1
    if field.wire is U64:
        return ((index + 1) << 32) + seed
    assert field.wire is F32
    return seed + index * 0.25


def _c_literal(field: Field, value) -> str:
    if field.wire is F32:
        return f"{value!r}f"
    if field.wire is U64:
        return f"{value:#x}ull"
    return f"{value}u" if field.wire is U32 else str(value)


def emit_all() -> tuple[str, list[tuple[str, bytes]]]:
    """C source of `emit_all(guest)` calling every encoder once, and the records the Python
    codec makes of the same values: (command name, bytes) in order."""
    lines = ["static int emit_all(PvgpuGuest *guest)", "{"]
    expected = []
    for seq, cmd in enumerate(codec.LAYOUTS.values(), start=1):
        values = [_value(cmd.opcode, i, f) for i, f in enumerate(cmd.fields)]
        args = [_c_literal(f, v) for i, (f, v) in enumerate(zip(cmd.fields, values))
                if cmd.element is None or i != cmd.count_index]
        elements = None
        lines.append("    {")
        if cmd.element is not None:
            values[cmd.count_index] = 2
            struct = f"Pvgpu{cmd.element.spec.name}"
            lines.append(f"        {struct} elements[2];")
            lines.append("        memset(elements, 0, sizeof elements);")
            elements = []
            for e in range(2):
                ev = tuple(_value(cmd.opcode * 10 + e, i, f) for i, f in enumerate(cmd.element.fields))
                elements.append(ev)
                lines += [f"        elements[{e}].{f.name} = {_c_literal(f, v)};"
                          for f, v in zip(cmd.element.fields, ev)]
            args += ["2", "elements"]
        call = f"pvgpu_emit_{cmd.name.lower()}(guest{''.join(', ' + a for a in args)})"
        lines.append(f"        if ({call} != {seq}u)")
        lines.append("            return 1;")
        lines.append("    }")
        expected.append((cmd.name, cmd.encode(seq, tuple(values), elements)))
    lines += ["    return 0;", "}", ""]
    fence = codec.BY_NAME["FENCE"]
    expected.append(("FENCE", fence.encode(len(expected) + 1, (1,))))  # pvgpu_guest_finish's
    return "\n".join(lines), expected


def records(data: bytes, keep_ring_pads: bool = False) -> list[tuple[int, int, bytes]]:
    """(opcode, sequence, bytes) of each record; the ring's PAD records (sequence 0) dropped."""
    out, offset = [], 0
    while offset < len(data):
        opcode, _flags, size, seq = codec.read_header(data, offset)
        assert size >= 16 and size % 16 == 0, f"bad framing at byte {offset}"
        if keep_ring_pads or opcode != codec.PAD_OPCODE or seq != 0:
            out.append((opcode, seq, data[offset:offset + size]))
        offset += size
    return out


@pytest.fixture(scope="module", params=list(LANGUAGES))
def fake_host(request, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp(f"fake_host_{request.param.replace('+', 'p')}")
    source, _ = emit_all()
    (d / "emit_all.h").write_text(source)
    return compile_program(request.param, FAKE_HOST, d / "guest_fake_host", f"-I{d}", '-DEMIT_ALL="emit_all.h"')


def run_fake(exe: Path, *args: str) -> str:
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{exe.name} {' '.join(args)}: exit {result.returncode}\n{result.stdout}"
    return result.stdout


@needs_compilers
def test_encoders_write_the_python_codecs_bytes(fake_host: Path, tmp_path: Path) -> None:
    out = tmp_path / "stream.bin"
    run_fake(fake_host, "encoders", str(out))
    got = records(out.read_bytes())
    _, expected = emit_all()
    assert len(got) == len(expected)
    for (opcode, seq, data), (name, want) in zip(got, expected):
        assert data == want, f"{name} (record {seq}): C wrote {data.hex()}, Python {want.hex()}"
    assert [seq for _, seq, _ in got] == list(range(1, len(expected) + 1))


@needs_compilers
def test_ring_and_heap_under_back_pressure(fake_host: Path, tmp_path: Path) -> None:
    """Thousands of uploads and records through a 4 KiB ring and a 64 KiB heap: the ring fills
    (the writer waits for the consumer), PAD records fill its end, heap space comes back only
    after its fence (the simulated host checks every upload's bytes when it consumes the
    record), and the host sees one unbroken stream."""
    out = tmp_path / "stream.bin"
    line = run_fake(fake_host, "stress", str(out)).strip()
    stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    assert stats["checked_uploads"] == 3000
    assert stats["max_outstanding"] == FAKE_RING_SIZE  # the ring was full, exactly
    assert stats["pads"] > 0
    data = out.read_bytes()
    decoded = list(codec.iter_stream(data))
    assert [seq for seq, _ in decoded] == list(range(1, stats["sequence"] + 1))
    assert stats["records"] == len(decoded)
    fences = [cmd.value for _, cmd in decoded if isinstance(cmd, codec.Commands.Fence)]
    assert fences == list(range(1, len(fences) + 1)) and len(fences) > stats["fences"]
    ring_pads = [r for r in records(data, keep_ring_pads=True) if r[0] == codec.PAD_OPCODE]
    assert len(ring_pads) == stats["pads"]


@needs_compilers
def test_heap_never_reclaims_what_no_record_names(fake_host: Path) -> None:
    """A fence frees only heap space allocated before the last record written before it: with
    a 64 KiB heap, a 40000-byte upload and a second one before the first's record fail with
    TOO_LARGE (the allocator once fenced "everything so far" and put the second upload over
    the first); after the record it reuses the first's space, and the host finds every
    upload's bytes intact when it consumes the records."""
    lines = run_fake(fake_host, "unnamed").splitlines()
    assert lines == [
        "upload 1 before record 0: -7: the heap is full of allocations no record names yet: write the "
        "records that name them before allocating more (or give the guest a larger heap)",
        "offsets 0 0 40192 0 15104 checked_uploads=5 failed=0",
    ]


@needs_compilers
def test_frame_statistics_reader(fake_host: Path) -> None:
    assert run_fake(fake_host, "frames").strip() == "frames 42 40 41 123456789012"


@needs_compilers
def test_error_log_reader(fake_host: Path) -> None:
    """New entries since the last read, in order, a full-length detail cut cleanly, and a
    burst larger than the log: the entries the host may be overwriting are dropped and counted."""
    lines = run_fake(fake_host, "errors").splitlines()
    assert lines[:7] == [
        "read 0 lost 0",
        "read 2 lost 0",
        "0 #7 SET_VERTEX_SHADER: DEAD_ID: shader: no object has id 99",
        "1 #8 DRAW: WRONG_KIND: second",
        "read 1 lost 0",
        "2 #9 CREATE_BUFFER: QUOTA: " + "x" * 112,
        # 33 errors logged, the log keeps 24: entry 9 may be torn while the host writes error 33
        "read 23 lost 7",
    ]
    assert lines[7:30] == [f"{i} #{97 + i} DRAW: BAD_ENUM: burst {i - 3}" for i in range(10, 33)]
    assert lines[30:] == ["read 0 lost 0"]


@needs_compilers
def test_lost_device_refused_version_and_timeout(fake_host: Path) -> None:
    assert run_fake(fake_host, "lost").strip() == (
        "wait -6 lost 1: device lost while waiting for fence 1: the fake host lost the device")
    assert run_fake(fake_host, "version").strip() == (
        f"handshake -3: host speaks pvgpu protocol {PROTOCOL_MAJOR + 1}.x, this guest "
        f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}; update one of them")
    assert run_fake(fake_host, "timeout").strip() == (
        "handshake -5: timed out after 0.02 s waiting for the host to accept this guest; "
        "is the host still running?")


@needs_compilers
def test_handshake_rerings_and_lost_or_reset_devices(fake_host: Path) -> None:
    """A host that notices the hello only at a later doorbell (a renderer restarted after a
    crash) still answers: the guest rings again every 250 ms (a fake clock, no real waiting);
    a host that answers the hello with LOST gives DEVICE_LOST with its reason; a page reset
    while the guest waits on a fence is a lost device too; and a fence never submitted is the
    caller's mistake, not a 30 s timeout."""
    assert run_fake(fake_host, "rering").strip() == "handshake 0 doorbells 4 waited 0.76 s"
    assert run_fake(fake_host, "lost_hello").strip() == (
        "handshake -6: device lost during the handshake: the renderer crashed")
    assert run_fake(fake_host, "reset").strip() == (
        "wait -6: device lost while waiting for fence 1: the control page was reset (device status 0); "
        "handshake again")
    assert run_fake(fake_host, "badfence").strip() == (
        "wait -1: fence 1 was never put in the ring (the last is 0): wait for a value pvgpu_guest_fence returned")


# --- the example guest through a real `pvgpu serve --ivshmem` ---------------------------------

WIDTH, HEIGHT = 128, 96


def expected_frame(frame: int) -> np.ndarray:
    """What examples/c_guest draws in frame `frame` (its comment gives the rule)."""
    img = np.empty((HEIGHT, WIDTH, 4), dtype=np.uint8)
    img[...] = (frame * 16 % 256, 64, 128, 255)
    img[24:72, 32 + 4 * frame:96 + 4 * frame] = (255, frame * 32 % 256, 32, 255)
    return img


def check_frames(folder: Path, count: int) -> None:
    files = sorted(p.name for p in folder.glob("frame_*.png"))
    assert files == [f"frame_{i:04d}.png" for i in range(count)]
    for i in range(count):
        got = np.asarray(Image.open(folder / f"frame_{i:04d}.png").convert("RGBA"))
        want = expected_frame(i)
        bad = np.argwhere(np.any(got != want, axis=-1))
        assert len(bad) == 0, (f"frame {i}: {len(bad)} pixels differ, first at (y, x) {tuple(bad[0])}: "
                               f"{got[tuple(bad[0])]} instead of {want[tuple(bad[0])]}")


def _start_serve(socket_path: Path, frames_dir: Path, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvgpu.cli", "serve", "--ivshmem", str(socket_path), "--region-size", "16M",
         "--present", f"png:{frames_dir}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even when pytest runs in the background
    log.close()
    deadline = time.monotonic() + 120
    while not socket_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"pvgpu serve did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return proc


def _stop_serve(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory) -> dict:
    """The example built as C11 and as C++17, each run once against one `pvgpu serve --ivshmem`
    (the C++ build provokes a host error on purpose); serve is stopped (SIGINT) before the
    frames are read, so every PNG is complete."""
    if shutil.which("gcc") is None or shutil.which("g++") is None:
        pytest.skip("gcc and g++ are needed")
    d = tmp_path_factory.mktemp("c_example")
    exes = {lang: compile_program(lang, EXAMPLE, d / f"c_guest_{lang.replace('+', 'p')}") for lang in LANGUAGES}
    socket_path, frames_dir = d / "ivshmem.sock", d / "frames"
    proc = _start_serve(socket_path, frames_dir, d / "serve.log")
    runs = {}
    try:
        for lang, args in (("c11", ["4"]), ("c++17", ["3", "--provoke-error"])):
            result = subprocess.run([exes[lang], str(socket_path), *args], capture_output=True, text=True,
                                    timeout=180)
            runs[lang] = result
    finally:
        _stop_serve(proc)
    runs["serve_log"] = (d / "serve.log").read_text()
    runs["frames_dir"] = frames_dir
    return runs


def _session_folder(runs: dict, lang: str) -> Path:
    match = re.search(r"connected: session=(\d+) ", runs[lang].stdout)
    assert match, f"{lang} example did not connect:\n{runs[lang].stdout}\n{runs[lang].stderr}"
    return runs["frames_dir"] / f"session-{match.group(1)}"


@pytest.mark.slow
@needs_compilers
def test_c_example_draws_its_frames(example_runs: dict) -> None:
    run = example_runs["c11"]
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\nserve:\n{example_runs['serve_log']}"
    assert "frames=4 errors=0 status=1" in run.stdout
    check_frames(_session_folder(example_runs, "c11"), 4)


@pytest.mark.slow
@needs_compilers
def test_cpp_example_reports_the_host_error_it_provoked(example_runs: dict) -> None:
    """The C++17 build sends SET_VERTEX_SHADER with an id of no object after its frames: the
    library's error-log reader hands back the host's DEAD_ID entry with that record's sequence
    number, and the example exits 1."""
    run = example_runs["c++17"]
    assert run.returncode == 1, f"{run.stdout}\n{run.stderr}\nserve:\n{example_runs['serve_log']}"
    sequence = int(re.search(r"provoked sequence=(\d+)", run.stdout).group(1))
    opcode = codec.BY_NAME["SET_VERTEX_SHADER"].opcode
    errors = [line for line in run.stdout.splitlines() if line.startswith("host error")]
    assert errors == [f"host error index=0 code={int(ErrorCode.DEAD_ID)} (DEAD_ID) opcode={opcode} "
                      f"sequence={sequence}: shader: no object has id 4242"]
    assert "frames=3 errors=1 status=1" in run.stdout  # reported, and the device is still READY
    check_frames(_session_folder(example_runs, "c++17"), 3)


def test_example_and_header_stay_apart() -> None:
    """The header is transport-neutral: no POSIX calls in it (they belong to the example)."""
    text = GUEST_HEADER.read_text()
    for posix in ("<unistd.h>", "<sys/", "<poll.h>", "nanosleep", "clock_gettime", "mmap("):
        assert posix not in text, f"pvgpu_guest.h uses {posix}"
    assert os.path.exists(EXAMPLE.parent / "README.md")
