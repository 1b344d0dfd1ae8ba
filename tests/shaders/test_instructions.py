"""Per-instruction tests through the whole stack: shaders written with the project's assembler,
run through pvgpu (guest API -> host -> renderer), results compared with what the D3D11
instruction set defines, computed here in Python (numpy float32 / plain ints).

Shape of a test: a compute shader loads a table of inputs (a structured SRV, one row of up to
four vec4s per thread, in r0..r3), applies a batch of instructions (each writes its own output
register, r8 upwards) and stores every output register to a raw UAV. One dispatch per batch;
one host and one guest session for the whole module. Each instruction is its own pytest case
that checks its column of the batch, so a failure names the instruction, the input bits, the
expected and the received bits.

Rules applied (D3D11 functional spec, "Floating-point rules" of the D3D11 programming guide,
cited where used as [FP32] / [FP16]):

- [FP32] "Denorms are flushed to sign-preserved zero on input and output of any floating-point
  mathematical operation. Exceptions are made for any I/O or data movement operation that
  doesn't manipulate the data" (mov/movc/swapc without modifiers, loads, stores).
- [FP32] divide by 0 -> +-INF (0/0 NaN); log(+-0) = -INF, log(negative) = NaN; sqrt/rsq of a
  negative = NaN, sqrt(-0) = -0, rsq(-0) = -INF; INF-INF, INF/INF, INF*0 = NaN; NaN in -> NaN
  out (any NaN bits, except moves); EQ/GE/LT false with a NaN, NE true; +0 == -0.
- [FP32] min/max: one NaN operand -> the other operand; denorms flushed for the comparison,
  the result may or may not be flushed.
- [FP32] add, subtract and multiply are within 0.5 ULP (checked bit-exact: lavapipe rounds to
  nearest even, so anything else is a bug). mad may or may not be fused: 1 ULP.
- Precision of the other float ops (D3D11.3 functional spec's per-instruction precision,
  which Vulkan's precision table took over for SPIR-V): div and rcp 2.5 ULP, rsq 2 ULP,
  sqrt 3 ULP (as 1/rsq), exp 3 + 2*|x| ULP, log absolute 2^-21 inside [0.5, 2] and 3 ULP
  outside, sin/cos absolute 2^-11 inside [-pi, pi] and 0.0008 inside [-100 pi, 100 pi]
  (D3D10's sincos statement). Special values (inf, NaN, 0) are exact.
- Integer rules from the instruction reference: shift amounts masked to 5 bits; udiv by 0
  gives 0xFFFFFFFF in both results; ftoi/ftou saturate, NaN -> 0; firstbit_* of 0 (and
  firstbit_shi of -1) -> 0xFFFFFFFF; bfi/ubfe/ibfe take width and offset & 31 and, where
  width + offset > 32, the field ends at bit 31 (ubfe/ibfe: a shift by offset).
- [FP16] f32tof16 rounds to nearest even, keeps INF and NaN, produces half denormals;
  f16tof32 is exact (half denormals are normal float32s), reads the low 16 bits only.
"""

from __future__ import annotations

import glob
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from pvgpu import guest as g
from pvgpu.host.service import HostService
from pvgpu.protocol.enums import DeviceStatus
from pvgpu.shaders import container, decoder, opcodes
from pvgpu.shaders.assembler import assemble

from conformance import guest as gh

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on NaN/inf inputs

B = g.BindFlag
F = g.DxgiFormat
HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", HERE.parent.parent.parent / "shared" / "dxbc"))
FAILURES_MD = Path(os.environ.get("PVGPU_INSTRUCTION_FAILURES", "/tmp/instruction_failures.md"))

# ----------------------------------------------------------------------------------------------
# 1. Which instructions the real corpora exercise, and which they do not
# ----------------------------------------------------------------------------------------------


def corpus_instruction_names() -> set[str] | None:
    """Every instruction name used by a blob of ../shared/dxbc (None when it is absent)."""
    paths = glob.glob(str(CORPUS / "*" / "*.dxbc"))
    if not paths:
        return None
    used: set[str] = set()
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        try:
            blob = container.parse(data)
        except Exception:  # root-signature blobs (D3D12) carry no shader
            continue
        used.update(ins.name for ins in decoder.decode(blob.tokens).instructions)
    return used


def instructions_not_in_corpora() -> list[str] | None:
    used = corpus_instruction_names()
    if used is None:
        return None
    return [i.name for i in opcodes.OPCODES if not i.is_declaration and i.name not in used]


#: What the corpora lacked when this file was written (the test below keeps it honest).
NOT_IN_CORPORA = [
    "call", "callc", "cut", "emitThenCut", "imax", "imin", "ineg", "label", "umul", "umad", "lod",
    "cut_stream", "emitThenCut_stream", "fcall", "deriv_rtx_coarse", "deriv_rtx_fine", "deriv_rty_coarse",
    "deriv_rty_fine", "uaddc", "usubb", "eval_snapped", "abort", "debug_break", "msad", "gather4_s",
    "gather4_c_s", "gather4_po_s", "gather4_po_c_s", "ld_s", "ld_ms_s", "ld_uav_typed_s", "ld_raw_s",
    "ld_structured_s", "sample_l_s", "sample_c_lz_s", "sample_cl_s", "sample_b_cl_s", "sample_d_cl_s",
    "sample_c_cl_s", "check_access_fully_mapped",
]

#: Instructions pvgpu does not translate, and why they are not run here (the translator must
#: refuse them, which test_untranslated_instructions_are_refused checks).
NOT_TRANSLATED = {
    # doubles: translated only for a device with shader-f64; lavapipe through wgpu has none, so
    # they are refused here as D3D11 does without doubles (test_wgsl_alu.py checks the refusal)
    **{n: "doubles (no shader-f64 on this device)" for n in (
        "dadd", "dmax", "dmin", "dmul", "deq", "dge", "dlt", "dne", "dmov", "dmovc", "dtof", "ftod", "ddiv",
        "dfma", "drcp", "dtoi", "dtou", "itod", "utod")},
    # tiled-resource (D3D11.2) status forms
    **{n: "tiled-resource residency form" for n in (
        "gather4_s", "gather4_c_s", "gather4_po_s", "gather4_po_c_s", "ld_s", "ld_ms_s", "ld_uav_typed_s",
        "ld_raw_s", "ld_structured_s", "sample_l_s", "sample_c_lz_s", "sample_cl_s", "sample_b_cl_s",
        "sample_d_cl_s", "sample_c_cl_s", "check_access_fully_mapped")},
    "msad": "not translated", "eval_snapped": "not translated", "eval_sample_index": "not translated",
    "eval_centroid": "not translated", "fcall": "interfaces", "abort": "debug", "debug_break": "debug",
}


# ----------------------------------------------------------------------------------------------
# 2. Bits, floats and the comparison
# ----------------------------------------------------------------------------------------------

def f2u(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def u2f(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint32).view(np.float32)


def bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def ftz(x: np.ndarray) -> np.ndarray:
    """[FP32] a float32 denormal becomes a zero of its sign."""
    x = np.asarray(x, dtype=np.float32)
    den = (np.abs(x) < np.float32(2.0 ** -126)) & (x != 0)
    return np.where(den, np.copysign(np.float32(0), x), x).astype(np.float32)


def is_nan_bits(b: np.ndarray) -> np.ndarray:
    return (np.asarray(b, np.uint32) & 0x7FFFFFFF) > 0x7F800000


def ordered(b: np.ndarray) -> np.ndarray:
    """Float bits as an integer line (-0 and +0 the same point): ULP distance is a difference."""
    b = np.asarray(b, np.uint32).astype(np.int64)
    return np.where(b >> 31, -(b & 0x7FFFFFFF), b)


def ulp_of(x: np.ndarray) -> np.ndarray:
    x = np.abs(np.asarray(x, np.float64))
    e = np.floor(np.log2(np.maximum(x, 2.0 ** -126)))
    return 2.0 ** (e - 23)


@dataclass
class Result:
    """One instruction's column: the inputs that fed it (text per element) and what came back."""
    label: list[str]
    got: np.ndarray  # uint32, flat


def describe(i: int, r: Result, want: str, got: int) -> str:
    return f"{r.label[i]}: expected {want}, got {got:#010x} ({u2f(np.uint32(got)).item()!r})"


def check_bits(r: Result, want: np.ndarray, limit: int = 12) -> list[str]:
    want = np.asarray(want, np.uint32).ravel()
    bad = np.nonzero(r.got != want)[0]
    return [describe(i, r, f"{int(want[i]):#010x}", int(r.got[i])) for i in bad[:limit]] + (
        [f"... {len(bad) - limit} more"] if len(bad) > limit else [])


def check_float(r: Result, want: np.ndarray, *, ulps: float = 0, absolute: np.ndarray | float | None = None,
                alt: np.ndarray | None = None, limit: int = 12) -> list[str]:
    """`want` float32 (already flushed as the rule asks): NaN wants any NaN; otherwise the bits,
    or within `ulps` ULPs of `want` / `absolute` of it (infinities and zeros exact but for the
    sign of zero under a tolerance). `alt`: other acceptable bits per element."""
    want = np.asarray(want, np.float32).ravel()
    wb = f2u(want)
    got = r.got
    ok = np.where(is_nan_bits(wb), is_nan_bits(got), got == wb)
    if alt is not None:
        ok |= got == np.asarray(alt, np.uint32).ravel()
    if ulps or absolute is not None:
        finite = np.isfinite(want) & ~is_nan_bits(got) & ((got & 0x7FFFFFFF) != 0x7F800000)
        gf = u2f(got).astype(np.float64)
        err = np.abs(gf - want.astype(np.float64))
        tol = ulps * ulp_of(want)
        if absolute is not None:
            tol = np.maximum(tol, np.broadcast_to(np.asarray(absolute, np.float64), want.shape))
        ok |= finite & (err <= tol)
    bad = np.nonzero(~ok)[0]
    out = []
    for i in bad[:limit]:
        w = f"{int(wb[i]):#010x} ({want[i]!r})" if not np.isnan(want[i]) else "NaN"
        if ulps or absolute is not None:
            w += " within tolerance"
        out.append(describe(i, r, w, int(got[i])))
    if len(bad) > limit:
        out.append(f"... {len(bad) - limit} more")
    return out


# ----------------------------------------------------------------------------------------------
# 3. The session and the batch runner
# ----------------------------------------------------------------------------------------------

GROUP = 64


class Session:
    def __init__(self, host: HostService):
        self.host = host
        self.device = g.connect(host.socket_path, timeout=30)

    def healthy(self) -> bool:
        try:
            self.device.connection.finish()
            return self.device.connection.device_status == DeviceStatus.READY
        except Exception:
            return False

    def reconnect(self) -> None:
        try:
            self.device.close()
        except Exception:
            pass
        self.device = g.connect(self.host.socket_path, timeout=30)

    # --- resources ---
    def structured_srv(self, rows: np.ndarray):
        """rows: uint32 (N, 4*k): a structured buffer of N elements of 16*k bytes."""
        rows = np.ascontiguousarray(rows, np.uint32)
        stride = rows.shape[1] * 4
        buf = self.device.create_buffer(g.BufferDesc(rows.nbytes, B.SHADER_RESOURCE,
                                                     misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED,
                                                     structure_byte_stride=stride), rows)
        return self.device.create_shader_resource_view(buf, F.UNKNOWN, first_element=0, num_elements=rows.shape[0])

    def raw_uav(self, dwords: int, fill: np.ndarray | None = None):
        data = np.zeros(dwords, np.uint32) if fill is None else np.ascontiguousarray(fill, np.uint32)
        buf = self.device.create_buffer(g.BufferDesc(dwords * 4, B.UNORDERED_ACCESS | B.SHADER_RESOURCE,
                                                     misc_flags=g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS), data)
        uav = self.device.create_unordered_access_view(buf, F.R32_TYPELESS, first_element=0, num_elements=dwords,
                                                       flags=g.BufferViewFlag.RAW)
        return buf, uav

    def read(self, buf) -> np.ndarray:
        return gh.read_buffer(self.device, buf).view(np.uint32).copy()

    def run(self, text: str, resources=(), uavs=(), groups=(1, 1, 1)) -> None:
        cs = self.device.create_compute_shader(assemble(text))
        gh.dispatch(self.device, cs, groups, resources=list(resources), uavs=list(uavs))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    host = HostService(os.path.join(tmp_path_factory.mktemp("host"), "host.sock"), region_size=32 << 20,
                       presenters=[])
    host.start()
    s = Session(host)
    yield s
    try:
        s.device.close()
    except Exception:
        pass
    host.stop()


@dataclass
class Op:
    """One instruction under test: `asm` lines with {a} {b} {c} {d} for the input registers
    (r0..r3) and {o0} {o1} ... for its output registers; `check(inputs, outs) -> failures`,
    inputs a list of uint32 (N, 4) arrays (one per input register), outs the same per output."""
    id: str
    asm: str
    check: Callable[..., list[str]]
    outputs: int = 1
    opcodes: tuple[str, ...] = ()
    float_sources: int = 0  # leading sources read as floats by an arithmetic op (denormal split)
    row_split: bool = False  # the check needs whole threads (vec4 rows): split by rows


@dataclass
class Batch:
    name: str
    inputs: list[np.ndarray]          # per input register: uint32 (N, 4)
    labels: Callable[[int, int], str]  # (thread, component) -> text of that element's inputs
    ops: list[Op] = field(default_factory=list)


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    if a.shape[0] == n:
        return a
    return np.concatenate([a, np.repeat(a[-1:], n - a.shape[0], axis=0)])


def run_batch(s: Session, batch: Batch) -> dict[str, list[np.ndarray]]:
    n = batch.inputs[0].shape[0]
    padded = -(-n // GROUP) * GROUP
    k = len(batch.inputs)
    rows = np.concatenate([_pad(x, padded) for x in batch.inputs], axis=1)
    total_out = sum(op.outputs for op in batch.ops)
    base = 8
    addr = base + total_out
    lines = ["cs_5_0", "dcl_globalFlags refactoringAllowed", f"dcl_resource_structured t0, {16 * k}",
             "dcl_uav_raw u0", "dcl_input vThreadID.x", f"dcl_temps {addr + 1}",
             f"dcl_thread_group {GROUP}, 1, 1"]
    for j in range(k):
        lines.append(f"ld_structured r{j}.xyzw, vThreadID.x, l({16 * j}), t0.xyzw")
    slots: dict[str, list[int]] = {}
    reg = base
    for op in batch.ops:
        outs = list(range(reg, reg + op.outputs))
        slots[op.id] = outs
        regs = {"a": "r0", "b": "r1", "c": "r2", "d": "r3"} | {f"o{i}": f"r{o}" for i, o in enumerate(outs)}
        # a bare {x} means the whole register (.xyzw); {x}.zw etc. keep their own mask/swizzle
        text = re.sub(r"\{(\w+)\}(?![.\w])", r"{\1}.xyzw", op.asm.strip())
        lines += [ln.strip().format(**regs) for ln in text.splitlines()]
        reg += op.outputs
    lines.append(f"imul null, r{addr}.x, vThreadID.x, l({16 * total_out})")
    for i in range(total_out):
        lines.append(f"store_raw u0.xyzw, r{addr}.x, r{base + i}.xyzw")
        lines.append(f"iadd r{addr}.x, r{addr}.x, l(16)")
    lines.append("ret")
    buf, uav = s.raw_uav(padded * total_out * 4, np.full(padded * total_out * 4, 0xDEADBEEF, np.uint32))
    s.run("\n".join(lines), [s.structured_srv(rows)], [uav], (padded // GROUP, 1, 1))
    out = s.read(buf).reshape(padded, total_out, 4)[:n]
    return {op_id: [out[:, i, :] for i in (np.array(regs) - base)] for op_id, regs in slots.items()}


_results: dict[str, dict[str, list[np.ndarray]]] = {}
_failures: dict[str, list[str]] = {}


def results_of(s: Session, batch: Batch) -> dict[str, list[np.ndarray]]:
    if batch.name not in _results:
        _results[batch.name] = run_batch(s, batch)
    return _results[batch.name]


def record(case: str, failures: list[str]) -> None:
    """Keeps the failures for /tmp/instruction_failures.md (written after each failing case)."""
    if failures:
        _failures[case] = failures
        lines = ["# Instruction failures (tests/shaders/test_instructions.py)", ""]
        for name, fs in sorted(_failures.items()):
            lines.append(f"## {name}")
            lines += [f"- {f}" for f in fs]
            lines.append("")
        try:
            FAILURES_MD.write_text("\n".join(lines))
        except OSError:
            pass
    assert not failures, f"{case}:\n" + "\n".join(failures)


def is_denormal_bits(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, np.uint32) & 0x7FFFFFFF
    return (b != 0) & (b < 0x00800000)


def run_op(s: Session, batch: Batch, op: Op, part: str = "all") -> None:
    """Checks op's column. part: "all"; "normal": the elements whose float sources and results
    are no float32 denormals; "denormal": the others ([FP32]'s flush rule, kept apart so that
    one missing flush does not hide every other rule)."""
    outs = results_of(s, batch)[op.id]
    n = batch.inputs[0].shape[0]
    labels = np.array([batch.labels(t, c) for t in range(n) for c in range(4)], dtype=object)
    got = [o.reshape(-1).astype(np.uint32) for o in outs]
    ins = [x.reshape(-1) for x in batch.inputs]
    keep = np.ones(n * 4, bool)
    if part != "all":
        den = np.zeros(n * 4, bool)
        for x in ins[:op.float_sources]:
            den |= is_denormal_bits(x)
        for g_ in got:
            den |= is_denormal_bits(g_)
        if op.row_split:
            den = np.repeat(den.reshape(-1, 4).any(axis=1), 4)
        keep = den if part == "denormal" else ~den
    res = [Result(list(labels[keep]), g_[keep]) for g_ in got]
    name = op.id if part in ("all", "normal") else f"{op.id} (denormals)"
    record(name, op.check([x[keep] for x in ins], *res) if keep.any() else [])


# ----------------------------------------------------------------------------------------------
# 4. Input tables
# ----------------------------------------------------------------------------------------------

INF = float("inf")
QNAN, NNAN, SNAN = 0x7FC00000, 0xFFFFFFFF, 0x7F800001
FLOAT_SPECIALS = [
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 0.49999997, -0.49999997, 1.0000001,
    0.25, -0.25, 0.75, -0.75, 2.0, 3.0, 4.0, 10.0, -10.0, 100.0, -100.0, 0.1, -0.1, 3.1415927, -3.1415927,
    1.5707964, 6.2831855, 1e-5, 1e-20, 1e20, -1e20, 1e38, -1e38, 3.4028235e38, -3.4028235e38,
    INF, -INF, 2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 4294967040.0, 4294967296.0,
    16777217.0, 8388608.5, -8388608.5, 65504.0, 65519.996, 65520.0, 70000.0, -70000.0, 6.1035156e-05,
    6.097555e-05, 5.9604645e-08, 2.9802322e-08, 1.0009766, 1.0004883, 1.0014648, 0.33333334, 123.456, -0.001,
    1.17549435e-38, -1.17549435e-38, 255.5, 254.5, -254.5, 314.15927, -314.15927,
]
BIT_SPECIALS = [
    QNAN, NNAN, SNAN, 0xFF800001, 0x7FFFFFFF,
    0x00000001, 0x807FFFFF, 0x007FFFFF, 0x80000001, 0x00400000,  # float32 denormals
    0x00000002, 0x00000003, 0x0000001F, 0x00000020, 0x00000021, 0x7FFFFFFF, 0x80000000,
    0xFFFFFFFE, 0x12345678, 0x0000FFFF, 0x00010000, 0x00008000, 0x3C00, 0x7C00, 0xFC00, 0x7E00, 0x7C01,
    0xFE00, 0x0001, 0x03FF, 0x8001, 0x83FF, 0x7BFF, 0x12343C00, 0xFFFF3555, 0x01000001, 0xFEFFFFFF,
    0xFFFFFF7F, 0xFFFFFF80, 0x80000080, 0x00F0F000, 0xF0000000, 0x55555555,
]


def unary_table() -> np.ndarray:
    vals = [bits(v) for v in FLOAT_SPECIALS] + BIT_SPECIALS
    rng = np.random.default_rng(1)
    rand = f2u(rng.uniform(-200, 200, 64).astype(np.float32)).tolist()
    vals += rand
    vals += [0] * (-len(vals) % 4)
    return np.array(vals, np.uint32).reshape(-1, 4)


BINARY_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-20, 1e20, 3.4028235e38, -3.4028235e38,
                 INF, -INF, 1.17549435e-38, 1.0000001, 0.1, -7.75]
BINARY_BITS = [QNAN, 0xFFC00001, 0x00000001, 0x80400000, 0x007FFFFF]


def float_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vals = [bits(v) for v in BINARY_FLOATS] + BINARY_BITS
    a, b = np.meshgrid(np.array(vals, np.uint32), np.array(vals, np.uint32), indexing="ij")
    a, b = a.ravel(), b.ravel()
    rng = np.random.default_rng(2)
    ra = f2u(rng.uniform(-1000, 1000, 128).astype(np.float32))
    rb = f2u(rng.uniform(-1000, 1000, 128).astype(np.float32))
    a, b = np.concatenate([a, ra]), np.concatenate([b, rb])
    c = np.roll(a, 7)
    pad = -len(a) % 4
    a, b, c = (np.concatenate([x, x[:pad]]) for x in (a, b, c))
    return a.reshape(-1, 4), b.reshape(-1, 4), c.reshape(-1, 4)


INT_SPECIALS = [0, 1, 2, 3, 5, 7, 15, 16, 31, 32, 33, 37, 63, 64, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF,
                0xFFFFFFFE, 0x12345678, 0x87654321, 0xFFFF, 0x10000, 0xDEADBEEF, 0xFFFFFFE0]


def int_pairs() -> tuple[np.ndarray, ...]:
    vals = np.array(INT_SPECIALS, np.uint32)
    a, b = np.meshgrid(vals, vals, indexing="ij")
    a, b = a.ravel(), b.ravel()
    rng = np.random.default_rng(3)
    a = np.concatenate([a, rng.integers(0, 2 ** 32, 256, dtype=np.uint64).astype(np.uint32)])
    b = np.concatenate([b, rng.integers(0, 2 ** 32, 256, dtype=np.uint64).astype(np.uint32)])
    c = np.roll(a, 11) ^ np.uint32(0x0F0F0F0F)
    d = np.roll(b, 5) + np.uint32(0x9E3779B9)
    pad = -len(a) % 4
    return tuple(np.concatenate([x, x[:pad]]).reshape(-1, 4) for x in (a, b, c, d))


# ----------------------------------------------------------------------------------------------
# 5. Float and conversion instructions of one source
# ----------------------------------------------------------------------------------------------

def fin(x: np.ndarray) -> np.ndarray:
    """A float source as an arithmetic instruction sees it: denormals flushed [FP32]."""
    return ftz(u2f(x))


def np_f32(fn, *args) -> np.ndarray:
    with np.errstate(all="ignore"):
        return ftz(np.asarray(fn(*args), np.float32))


def f64_to_f32(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return ftz(np.asarray(x, np.float64).astype(np.float32))


def float_op(fn: Callable, *, ulps: float = 0, absolute=None, alt: Callable | None = None, sources: int = 1):
    """A check for a float instruction: fn over float64 views of the flushed sources, rounded to
    float32 and flushed [FP32]."""
    def check(ins, r):
        xs = [fin(x) for x in ins[:sources]]
        with np.errstate(all="ignore"):
            want = f64_to_f32(fn(*[x.astype(np.float64) for x in xs]))
        a = alt(*xs) if alt else None
        ab = absolute(*xs) if callable(absolute) else absolute
        return check_float(r, want, ulps=ulps, absolute=ab, alt=a)
    return check


def exp_check(ins, r):
    x = fin(ins[0]).astype(np.float64)
    with np.errstate(all="ignore"):
        want = f64_to_f32(np.exp2(x))
    # 3 + 2|x| ULPs (per-element tolerance as an absolute bound)
    tol = (3 + 2 * np.abs(np.nan_to_num(x, posinf=0, neginf=0))) * ulp_of(want)
    return check_float(r, want, absolute=tol + (want == 0) * 2.0 ** -126)


def log_check(ins, r):
    x = fin(ins[0]).astype(np.float64)
    with np.errstate(all="ignore"):
        want = f64_to_f32(np.log2(x))
    inside = (x >= 0.5) & (x <= 2.0)
    tol = np.where(inside, 2.0 ** -21, 3 * ulp_of(want))
    return check_float(r, want, absolute=tol)


def trig_check(fn):
    def check(ins, r):
        x = fin(ins[0]).astype(np.float64)
        with np.errstate(all="ignore"):
            want = f64_to_f32(fn(x))
        tol = np.where(np.abs(x) <= math.pi, 2.0 ** -11, 0.0008)
        far = np.isfinite(x) & (np.abs(x) > 100 * math.pi)  # only |result| <= 1 is stated there
        got = u2f(r.got)
        out = check_float(Result([lbl for lbl, f in zip(r.label, far) if not f], r.got[~far]), want[~far],
                          absolute=tol[~far])
        bad = far & ~(np.abs(got) <= 1)
        out += [describe(i, r, "a value in [-1, 1]", int(r.got[i])) for i in np.nonzero(bad)[0]]
        return out
    return check


def ftoi_ref(x: np.ndarray) -> np.ndarray:
    """ftoi: round toward zero; NaN -> 0; saturate to [INT_MIN, INT_MAX]."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        t = np.trunc(np.nan_to_num(x, nan=0.0, posinf=2.0 ** 40, neginf=-2.0 ** 40))
    t = np.clip(t, -2.0 ** 31, 2.0 ** 31 - 1)
    return t.astype(np.int64).astype(np.uint32)


def ftou_ref(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        t = np.trunc(np.nan_to_num(x, nan=0.0, posinf=2.0 ** 40, neginf=0.0))
    return np.clip(t, 0, 2.0 ** 32 - 1).astype(np.int64).astype(np.uint32)


def f32tof16_check(ins, r):
    x = fin(ins[0])
    with np.errstate(all="ignore"):
        h = x.astype(np.float16).view(np.uint16).astype(np.uint32)  # IEEE: nearest even, overflow -> inf
    nan = np.isnan(x)
    got_nan = ((r.got & 0x7C00) == 0x7C00) & ((r.got & 0x3FF) != 0) & (r.got <= 0xFFFF)
    ok = np.where(nan, got_nan, r.got == h)
    return [describe(i, r, "a half NaN" if nan[i] else f"{int(h[i]):#06x}", int(r.got[i]))
            for i in np.nonzero(~ok)[0][:12]]


def f16tof32_check(ins, r):
    h = (ins[0] & 0xFFFF).astype(np.uint16).view(np.float16)
    return check_float(r, h.astype(np.float32))  # exact; no flush (half denormals are normal floats)


def bits_op(fn: Callable, sources: int = 1):
    def check(ins, *rs):
        wants = fn(*[x.astype(np.uint64) for x in ins[:sources]])
        wants = wants if isinstance(wants, tuple) else (wants,)
        out = []
        for r, w in zip(rs, wants):
            out += check_bits(r, (np.asarray(w, np.uint64) & 0xFFFFFFFF).astype(np.uint32))
        return out
    return check


def _signed(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.uint64).astype(np.uint32).view(np.int32).astype(np.int64)


def firstbit_hi_ref(x):
    x = np.asarray(x, np.uint64)
    out = np.full(x.shape, 0xFFFFFFFF, np.uint64)
    for i in range(32):
        out = np.where((x >> np.uint64(i)) & np.uint64(1), np.uint64(31 - i), out)
    return out


def firstbit_lo_ref(x):
    x = np.asarray(x, np.uint64)
    out = np.full(x.shape, 0xFFFFFFFF, np.uint64)
    for i in reversed(range(32)):
        out = np.where((x >> np.uint64(i)) & np.uint64(1), np.uint64(i), out)
    return out


def firstbit_shi_ref(x):
    x = np.asarray(x, np.uint64)
    neg = (x >> np.uint64(31)) & np.uint64(1)
    return firstbit_hi_ref(np.where(neg, ~x & np.uint64(0xFFFFFFFF), x))


def bfrev_ref(x):
    x = np.asarray(x, np.uint64)
    out = np.zeros(x.shape, np.uint64)
    for i in range(32):
        out |= ((x >> np.uint64(i)) & np.uint64(1)) << np.uint64(31 - i)
    return out


def countbits_ref(x):
    x = np.asarray(x, np.uint64)
    return sum(((x >> np.uint64(i)) & np.uint64(1)) for i in range(32))


def sat_ref(x):
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(x), np.float32(0), np.clip(x, np.float32(0), np.float32(1))).astype(np.float32)


UNARY = Batch("unary", [unary_table()],
              lambda t, c: f"x={int(unary_table()[t, c]):#010x} ({u2f(unary_table()[t, c]).item()!r})")
UNARY.ops = [
    Op("mov", "mov {o0}, {a}", lambda ins, r: check_bits(r, ins[0]), opcodes=("mov",)),
    Op("mov_sat", "mov_sat {o0}, {a}", float_op(lambda x: sat_ref(x.astype(np.float32)),
                                                  alt=lambda x: f2u(sat_ref(x)) & 0x7FFFFFFF), float_sources=1),
    Op("mov_neg_abs", "mov {o0}, -|{a}|",
       # a modifier makes mov a float operation: -|x|, denormals flushed (or kept: a mov moves data)
       lambda ins, r: check_float(r, -np.abs(fin(ins[0])), alt=ins[0] | np.uint32(0x80000000)),
       opcodes=("mov",), float_sources=1),
    Op("mul_neg_abs", "mul {o0}, -|{a}|, l(1.0, 1.0, 1.0, 1.0)", float_op(lambda x: -np.abs(x)),
       opcodes=("mul",), float_sources=1),
    Op("exp", "exp {o0}, {a}", exp_check, float_sources=1),
    Op("log", "log {o0}, {a}", log_check, float_sources=1),
    # frc: x - floor(x), in [0, 1); frc(+-inf) = NaN (INF - INF)
    Op("frc", "frc {o0}, {a}", float_op(lambda x: x - np.floor(x)), float_sources=1),
    Op("round_ne", "round_ne {o0}, {a}", float_op(np.rint), float_sources=1),
    Op("round_ni", "round_ni {o0}, {a}", float_op(np.floor), float_sources=1),
    Op("round_pi", "round_pi {o0}, {a}", float_op(np.ceil), float_sources=1),
    Op("round_z", "round_z {o0}, {a}", float_op(np.trunc), float_sources=1),
    Op("rsq", "rsq {o0}, {a}", float_op(lambda x: 1.0 / np.sqrt(x), ulps=2), float_sources=1),
    Op("sqrt", "sqrt {o0}, {a}", float_op(np.sqrt, ulps=3), float_sources=1),
    Op("rcp", "rcp {o0}, {a}", float_op(lambda x: 1.0 / x, ulps=2.5), float_sources=1),
    Op("ftoi", "ftoi {o0}, {a}", lambda ins, r: check_bits(r, ftoi_ref(fin(ins[0]))), float_sources=1),
    Op("ftou", "ftou {o0}, {a}", lambda ins, r: check_bits(r, ftou_ref(fin(ins[0]))), float_sources=1),
    Op("itof", "itof {o0}, {a}", lambda ins, r: check_float(r, ins[0].view(np.int32).astype(np.float32))),
    Op("utof", "utof {o0}, {a}", lambda ins, r: check_float(r, ins[0].astype(np.float32))),
    Op("f32tof16", "f32tof16 {o0}, {a}", f32tof16_check, float_sources=1),
    Op("f16tof32", "f16tof32 {o0}, {a}", f16tof32_check),
    Op("sincos", "sincos {o0}, {o1}, {a}",
       lambda ins, s, c: trig_check(np.sin)(ins, s) + trig_check(np.cos)(ins, c), outputs=2, float_sources=1),
    Op("sincos_null_sin", "sincos null, {o0}, {a}", lambda ins, c: trig_check(np.cos)(ins, c),
       opcodes=("sincos",), float_sources=1),
    Op("sincos_null_cos", "sincos {o0}, null, {a}", lambda ins, s: trig_check(np.sin)(ins, s),
       opcodes=("sincos",), float_sources=1),
    Op("sincos_masked", "mov {o0}, l(7, 7, 7, 7)\nsincos {o0}.xz, null, {a}.zyxw",
       lambda ins, r: _sincos_masked(ins, r), opcodes=("sincos",)),
    Op("countbits", "countbits {o0}, {a}", bits_op(countbits_ref)),
    Op("firstbit_hi", "firstbit_hi {o0}, {a}", bits_op(firstbit_hi_ref)),
    Op("firstbit_lo", "firstbit_lo {o0}, {a}", bits_op(firstbit_lo_ref)),
    Op("firstbit_shi", "firstbit_shi {o0}, {a}", bits_op(firstbit_shi_ref)),
    Op("bfrev", "bfrev {o0}, {a}", bits_op(bfrev_ref)),
    Op("not", "not {o0}, {a}", bits_op(lambda x: ~x)),
    Op("ineg", "ineg {o0}, {a}", bits_op(lambda x: (1 << 32) - x)),
    Op("iadd_neg", "iadd {o0}, l(5, 5, 5, 5), -{a}", bits_op(lambda x: (1 << 32) + 5 - x), opcodes=("iadd",)),
]


def _sincos_masked(ins, r):
    """x and z take sin of the source's .z and .x (the swizzle at the written components); y and
    w keep the 7 written before."""
    x = ins[0].reshape(-1, 4)[:, [2, 1, 0, 3]].reshape(-1)
    comp = np.tile(np.arange(4), len(x) // 4)
    written = (comp == 0) | (comp == 2)
    out = check_bits(Result([lb for lb, w in zip(r.label, written) if not w], r.got[~written]),
                     np.full((~written).sum(), 7, np.uint32))
    sub = Result([lb for lb, w in zip(r.label, written) if w], r.got[written])
    return out + trig_check(np.sin)([x[written]], sub)


@pytest.mark.parametrize("op", UNARY.ops, ids=lambda o: o.id)
def test_unary(session, op):
    run_op(session, UNARY, op, "normal" if op.float_sources else "all")


@pytest.mark.parametrize("op", [o for o in UNARY.ops if o.float_sources], ids=lambda o: o.id)
def test_unary_denormals_flushed(session, op):
    """[FP32]: denormal sources read as zeros of their sign, denormal results written as zeros."""
    run_op(session, UNARY, op, "denormal")


# ----------------------------------------------------------------------------------------------
# 6. Float instructions of two and three sources, moves and selects
# ----------------------------------------------------------------------------------------------

_FA, _FB, _FC = float_pairs()


def _pair_label(t: int, c: int) -> str:
    a, b, cc = int(_FA[t, c]), int(_FB[t, c]), int(_FC[t, c])
    return f"a={a:#010x} ({u2f(np.uint32(a)).item()!r}) b={b:#010x} ({u2f(np.uint32(b)).item()!r}) c={cc:#010x}"


def minmax_check(which):
    """[FP32] min/max: a NaN operand gives the other; denormals compare as zeros; the result
    may be the flushed or the unflushed operand; -0 < +0 is recommended, not required."""
    def check(ins, r):
        a_raw, b_raw = ins[0], ins[1]
        a, b = fin(a_raw), fin(b_raw)
        with np.errstate(invalid="ignore"):
            pick_a = np.where(np.isnan(b), True, np.where(np.isnan(a), False, (a < b) if which == "min" else (a > b)))
        tie = (a == b)
        want = np.where(pick_a, a, b)
        alt_raw = np.where(pick_a, a_raw, b_raw)
        out = []
        either = (r.got == a_raw) | (r.got == b_raw) | (r.got == f2u(a)) | (r.got == f2u(b))
        ok_alt = (r.got == alt_raw) | (tie & either)
        ok = ok_alt | (np.isnan(want) & is_nan_bits(r.got)) | (r.got == f2u(want))
        for i in np.nonzero(~ok)[0][:12]:
            out.append(describe(i, r, f"{int(f2u(want[i])):#010x} ({want[i]!r})", int(r.got[i])))
        return out
    return check


def compare_check(fn):
    def check(ins, r):
        with np.errstate(invalid="ignore"):
            want = np.where(fn(fin(ins[0]), fin(ins[1])), 0xFFFFFFFF, 0).astype(np.uint32)
        return check_bits(r, want)
    return check


def mad_check(ins, r):
    a, b, c = (fin(x) for x in ins[:3])
    with np.errstate(all="ignore"):
        fused = f64_to_f32(a.astype(np.float64) * b + c)
        unfused = ftz(ftz(a * b) + c)
    return check_float(r, fused, ulps=1, alt=f2u(unfused))


def dot_check(k: int):
    """dp2/3/4 of a.xyzw and b.xyzw into every component: the products' sum in an unstated
    order, so within 2^-22 of the sum of |products| (plus a denormal step); a NaN or an
    infinity among the products decides the result, and sums that overflow only in some
    order are left out."""
    def check(ins, r):
        a = fin(ins[0]).reshape(-1, 4)[:, :k].astype(np.float64)
        b = fin(ins[1]).reshape(-1, 4)[:, :k].astype(np.float64)
        with np.errstate(all="ignore"):
            prods32 = ftz((a * b).astype(np.float32)).astype(np.float64)
            exact = prods32.sum(axis=1)
            mag = np.abs(prods32).sum(axis=1)
        want = f64_to_f32(exact)
        ambiguous = np.isfinite(prods32).all(axis=1) & (mag > 3.0e38)
        want = np.repeat(want, 4)
        tol = np.repeat(mag * 2.0 ** -22 + 2.0 ** -126, 4)
        keep = ~np.repeat(ambiguous, 4)
        sub = Result([lb for lb, kk in zip(r.label, keep) if kk], r.got[keep])
        return check_float(sub, want[keep], absolute=tol[keep])
    return check


def movc_masked_check(ins, r):
    """mov o, (1, 2, 3, 4); movc o.yw, a.xxzz, b, c.wzyx: y = a.x ? b.y : c.z, w = a.z ? b.w : c.x."""
    a, b, c = (x.reshape(-1, 4) for x in ins[:3])
    want = np.tile(np.array([1, 2, 3, 4], np.uint32), (a.shape[0], 1))
    want[:, 1] = np.where(a[:, 0] != 0, b[:, 1], c[:, 2])
    want[:, 3] = np.where(a[:, 2] != 0, b[:, 3], c[:, 0])
    return check_bits(r, want)


BINARY = Batch("binary", [_FA, _FB, _FC], _pair_label)
BINARY.ops = [
    Op("add", "add {o0}, {a}, {b}", float_op(np.add, sources=2), float_sources=2),
    Op("sub", "add {o0}, {a}, -{b}", float_op(np.subtract, sources=2), opcodes=("add",), float_sources=2),
    Op("add_sat", "add_sat {o0}, {a}, {b}",
       # saturate: NaN -> 0 (the sign of a zero result is not asked for)
       float_op(lambda x, y: sat_ref((x + y).astype(np.float32)), sources=2,
                alt=lambda x, y: f2u(sat_ref((x + y).astype(np.float32))) & 0x7FFFFFFF),
       opcodes=("add",), float_sources=2),
    Op("mul", "mul {o0}, {a}, {b}", float_op(np.multiply, sources=2), float_sources=2),
    Op("div", "div {o0}, {a}, {b}", float_op(np.divide, ulps=2.5, sources=2), float_sources=2),
    Op("mad", "mad {o0}, {a}, {b}, {c}", mad_check, float_sources=3),
    Op("min", "min {o0}, {a}, {b}", minmax_check("min"), float_sources=2),
    Op("max", "max {o0}, {a}, {b}", minmax_check("max"), float_sources=2),
    Op("eq", "eq {o0}, {a}, {b}", compare_check(np.equal), float_sources=2),
    Op("ne", "ne {o0}, {a}, {b}", compare_check(np.not_equal), float_sources=2),
    Op("lt", "lt {o0}, {a}, {b}", compare_check(np.less), float_sources=2),
    Op("ge", "ge {o0}, {a}, {b}", compare_check(np.greater_equal), float_sources=2),
    Op("dp2", "dp2 {o0}, {a}, {b}", dot_check(2), float_sources=2, row_split=True),
    Op("dp3", "dp3 {o0}, {a}, {b}", dot_check(3), float_sources=2, row_split=True),
    Op("dp4", "dp4 {o0}, {a}, {b}", dot_check(4), float_sources=2, row_split=True),
    # movc/swapc move bits: the condition is any nonzero bits (-0.0 and NaN are true)
    Op("movc", "movc {o0}, {a}, {b}, {c}", lambda ins, r: check_bits(r, np.where(ins[0] != 0, ins[1], ins[2]))),
    Op("movc_masked", "mov {o0}, l(1, 2, 3, 4)\nmovc {o0}.yw, {a}.xxzz, {b}, {c}.wzyx", movc_masked_check,
       opcodes=("movc",)),
    Op("swapc", "swapc {o0}, {o1}, {a}, {b}, {c}",
       lambda ins, r0, r1: check_bits(r0, np.where(ins[0] != 0, ins[2], ins[1]))
       + check_bits(r1, np.where(ins[0] != 0, ins[1], ins[2])), outputs=2),
]


@pytest.mark.parametrize("op", BINARY.ops, ids=lambda o: o.id)
def test_binary(session, op):
    run_op(session, BINARY, op, "normal" if op.float_sources else "all")


@pytest.mark.parametrize("op", [o for o in BINARY.ops if o.float_sources], ids=lambda o: o.id)
def test_binary_denormals_flushed(session, op):
    run_op(session, BINARY, op, "denormal")


# ----------------------------------------------------------------------------------------------
# 7. Integer and bit instructions
# ----------------------------------------------------------------------------------------------

_IA, _IB, _IC, _ID = int_pairs()
M32 = 0xFFFFFFFF


def _int_label(t: int, c: int) -> str:
    return f"a={int(_IA[t, c]):#010x} b={int(_IB[t, c]):#010x} c={int(_IC[t, c]):#010x} d={int(_ID[t, c]):#010x}"


def _py(fn, *cols):
    """fn over Python ints, element by element (clear over fast: a few thousand elements)."""
    return np.array([fn(*vals) & M32 for vals in zip(*[c.tolist() for c in cols])], np.uint64).astype(np.uint32)


def s32(x: int) -> int:
    return x - (1 << 32) if x & 0x80000000 else x


def ubfe_ref(width, offset, value):
    """ubfe: width, offset & 31; width 0 -> 0; a field past bit 31 is value >> offset."""
    w, o = width & 31, offset & 31
    if w == 0:
        return 0
    if w + o < 32:
        return (value << (32 - w - o) & M32) >> (32 - w)
    return value >> o


def ibfe_ref(width, offset, value):
    w, o = width & 31, offset & 31
    if w == 0:
        return 0
    if w + o < 32:
        return s32(value << (32 - w - o) & M32) >> (32 - w)
    return s32(value) >> o


def bfi_ref(width, offset, insert, base):
    w, o = width & 31, offset & 31
    mask = (((1 << w) - 1) << o) & M32
    return ((insert << o) & mask) | (base & ~mask)


def int_op(fn, sources: int):
    def check(ins, *rs):
        out = []
        for k, r in enumerate(rs):
            out += check_bits(r, _py(lambda *v: fn(*v)[k] if isinstance(fn(*v), tuple) else fn(*v), *ins[:sources]))
        return out
    return check


def udiv_ref(a, b):
    return (0xFFFFFFFF, 0xFFFFFFFF) if b == 0 else (a // b, a % b)


INTEGER = Batch("integer", [_IA, _IB, _IC, _ID], _int_label)
INTEGER.ops = [
    Op("iadd", "iadd {o0}, {a}, {b}", int_op(lambda a, b: a + b, 2)),
    Op("imul", "imul {o0}, {o1}, {a}, {b}",
       int_op(lambda a, b: ((s32(a) * s32(b)) >> 32, s32(a) * s32(b)), 2), outputs=2),
    Op("imul_null_hi", "imul null, {o0}, {a}, {b}", int_op(lambda a, b: s32(a) * s32(b), 2), opcodes=("imul",)),
    Op("umul", "umul {o0}, {o1}, {a}, {b}", int_op(lambda a, b: ((a * b) >> 32, a * b), 2), outputs=2),
    Op("umul_hi_only", "umul {o0}, null, {a}, {b}", int_op(lambda a, b: (a * b) >> 32, 2), opcodes=("umul",)),
    Op("udiv", "udiv {o0}, {o1}, {a}, {b}", int_op(udiv_ref, 2), outputs=2),
    Op("udiv_null_rem", "udiv {o0}, null, {a}, {b}", int_op(lambda a, b: udiv_ref(a, b)[0], 2), opcodes=("udiv",)),
    Op("udiv_null_quot", "udiv null, {o0}, {a}, {b}", int_op(lambda a, b: udiv_ref(a, b)[1], 2), opcodes=("udiv",)),
    Op("uaddc", "uaddc {o0}, {o1}, {a}, {b}", int_op(lambda a, b: (a + b, (a + b) >> 32), 2), outputs=2),
    Op("usubb", "usubb {o0}, {o1}, {a}, {b}", int_op(lambda a, b: (a - b, int(a < b)), 2), outputs=2),
    Op("ishl", "ishl {o0}, {a}, {b}", int_op(lambda a, b: a << (b & 31), 2)),
    Op("ishr", "ishr {o0}, {a}, {b}", int_op(lambda a, b: s32(a) >> (b & 31), 2)),
    Op("ushr", "ushr {o0}, {a}, {b}", int_op(lambda a, b: a >> (b & 31), 2)),
    Op("and", "and {o0}, {a}, {b}", int_op(lambda a, b: a & b, 2)),
    Op("or", "or {o0}, {a}, {b}", int_op(lambda a, b: a | b, 2)),
    Op("xor", "xor {o0}, {a}, {b}", int_op(lambda a, b: a ^ b, 2)),
    Op("imin", "imin {o0}, {a}, {b}", int_op(lambda a, b: min(s32(a), s32(b)), 2)),
    Op("imax", "imax {o0}, {a}, {b}", int_op(lambda a, b: max(s32(a), s32(b)), 2)),
    Op("umin", "umin {o0}, {a}, {b}", int_op(min, 2)),
    Op("umax", "umax {o0}, {a}, {b}", int_op(max, 2)),
    Op("ieq", "ieq {o0}, {a}, {b}", int_op(lambda a, b: -int(a == b), 2)),
    Op("ine", "ine {o0}, {a}, {b}", int_op(lambda a, b: -int(a != b), 2)),
    Op("ilt", "ilt {o0}, {a}, {b}", int_op(lambda a, b: -int(s32(a) < s32(b)), 2)),
    Op("ige", "ige {o0}, {a}, {b}", int_op(lambda a, b: -int(s32(a) >= s32(b)), 2)),
    Op("ult", "ult {o0}, {a}, {b}", int_op(lambda a, b: -int(a < b), 2)),
    Op("uge", "uge {o0}, {a}, {b}", int_op(lambda a, b: -int(a >= b), 2)),
    Op("imad", "imad {o0}, {a}, {b}, {c}", int_op(lambda a, b, c: s32(a) * s32(b) + s32(c), 3)),
    Op("umad", "umad {o0}, {a}, {b}, {c}", int_op(lambda a, b, c: a * b + c, 3)),
    Op("ubfe", "ubfe {o0}, {a}, {b}, {c}", int_op(ubfe_ref, 3)),
    Op("ibfe", "ibfe {o0}, {a}, {b}, {c}", int_op(ibfe_ref, 3)),
    Op("bfi", "bfi {o0}, {a}, {b}, {c}, {d}", int_op(bfi_ref, 4)),
    Op("ishl_imm", "ishl {o0}, {a}, l(33, 32, 31, 0xffffffe1)",
       lambda ins, r: check_bits(r, _py(lambda a, s: a << (s & 31), ins[0],
                                       np.tile(np.array([33, 32, 31, 0xFFFFFFE1], np.uint32), len(ins[0]) // 4))),
       opcodes=("ishl",)),
]


@pytest.mark.parametrize("op", INTEGER.ops, ids=lambda o: o.id)
def test_integer(session, op):
    run_op(session, INTEGER, op)


# ----------------------------------------------------------------------------------------------
# 8. Flow control: loop/break/breakc/continue/continuec, switch with fall-through and default,
#    if/else (_z and _nz), call/callc/label/ret/retc, nop
# ----------------------------------------------------------------------------------------------

FLOW_CS = """
cs_5_0
dcl_resource_structured t0, 16
dcl_uav_raw u0
dcl_input vThreadID.x
dcl_temps 10
dcl_thread_group 64, 1, 1
ld_structured r0.xyzw, vThreadID.x, l(0), t0.xyzw
mov r4.xy, l(0, 0, 0, 0)
loop
  uge r5.x, r4.x, r0.x
  breakc_nz r5.x
  ieq r5.y, r4.x, r0.y
  if_nz r5.y
    break
  endif
  udiv null, r5.z, r4.x, l(3)
  iadd r4.x, r4.x, l(1)
  continuec_z r5.z
  iadd r4.y, r4.y, r4.x
  ult r5.w, l(100), r4.y
  if_nz r5.w
    continue
  endif
  nop
endloop
mov r8.x, r4.y
mov r8.y, l(0)
switch r0.z
  case l(0)
    iadd r8.y, r8.y, l(1)
    break
  case l(1)
  case l(2)
    iadd r8.y, r8.y, l(10)
  case l(3)
    iadd r8.y, r8.y, l(100)
    break
  case l(-1)
    iadd r8.y, r8.y, l(7)
    break
  default
    iadd r8.y, r8.y, l(1000)
    break
endswitch
if_z r0.w
  mov r8.z, l(5)
else
  mov r8.z, l(6)
endif
mov r8.w, l(0)
call l0
callc_nz r0.w, l1
callc_z r0.w, l0
imul null, r9.x, vThreadID.x, l(16)
store_raw u0.xyzw, r9.x, r8.xyzw
ret
label l0
  iadd r8.w, r8.w, l(1)
  ret
label l1
  iadd r8.w, r8.w, l(20)
  retc_nz r0.x
  iadd r8.w, r8.w, l(300)
  ret
"""


def flow_ref(n: int, m: int, sw: int, flag: int) -> tuple[int, int, int, int]:
    i = total = 0
    while True:
        if i >= n:
            break
        if i == m:
            break
        rem = i % 3
        i += 1
        if rem == 0:
            continue
        total += i
    sw_s = s32(sw)
    if sw_s == 0:
        y = 1
    elif sw_s in (1, 2):
        y = 110  # case 1/2 falls through into case 3
    elif sw_s == 3:
        y = 100
    elif sw_s == -1:
        y = 7
    else:
        y = 1000
    z = 5 if flag == 0 else 6
    w = 1 + ((20 if n != 0 else 320) if flag != 0 else 0) + (1 if flag == 0 else 0)
    return total, y, z, w


def test_flow_control(session):
    rng = np.random.default_rng(5)
    rows = np.stack([rng.integers(0, 12, 256), rng.integers(0, 14, 256),
                     rng.choice([0, 1, 2, 3, 4, 0xFFFFFFFF, 0x80000000], 256), rng.choice([0, 1, 0x80000000], 256)],
                    axis=1).astype(np.uint32)
    rows[:4] = [[0, 0, 0, 0], [5, 99, 1, 1], [11, 4, 2, 0], [0, 3, 3, 1]]
    buf, uav = session.raw_uav(256 * 4)
    session.run(FLOW_CS, [session.structured_srv(rows)], [uav], (4, 1, 1))
    got = session.read(buf).reshape(256, 4)
    failures = []
    for t in range(256):
        want = flow_ref(*[int(v) for v in rows[t]])
        if tuple(int(v) for v in got[t]) != want:
            failures.append(f"(n, m, switch, flag)={tuple(int(v) for v in rows[t])}: expected {want}, "
                            f"got {tuple(int(v) for v in got[t])}")
    record("flow control", failures[:12])


# ----------------------------------------------------------------------------------------------
# 9. Memory: raw/structured/typed loads and stores, group-shared memory with sync, atomics
# ----------------------------------------------------------------------------------------------

MEMORY_CS = """
cs_5_0
dcl_resource_raw t0
dcl_resource_structured t1, 12
dcl_uav_raw u0
dcl_uav_structured u1, 8
dcl_uav_typed_buffer (uint,uint,uint,uint) u2
dcl_uav_raw u3
dcl_input vThreadIDInGroupFlattened
dcl_tgsm_raw g0, 256
dcl_tgsm_structured g1, 8, 64
dcl_temps 6
dcl_thread_group 64, 1, 1
ishl r0.x, vThreadIDInGroupFlattened.x, l(2)
ld_raw r1.xyzw, r0.x, t0.wzyx
ld_structured r2.xyz, vThreadIDInGroupFlattened.x, l(4), t1.xyzx
imul null, r3.x, vThreadIDInGroupFlattened.x, l(32)
store_raw u0.xyzw, r3.x, r1.xyzw
iadd r3.x, r3.x, l(16)
store_raw u0.xyz, r3.x, r2.xyzx
store_structured u1.xy, vThreadIDInGroupFlattened.x, l(0), r1.xzxx
store_uav_typed u2.xyzw, vThreadIDInGroupFlattened.xxxx, r1.wwww
store_raw g0.x, r0.x, vThreadIDInGroupFlattened.x
store_structured g1.xy, vThreadIDInGroupFlattened.x, l(0), r1.yxyy
sync_ugroup_g_t
iadd r4.x, vThreadIDInGroupFlattened.x, l(1)
and r4.x, r4.x, l(63)
ishl r4.y, r4.x, l(2)
ld_raw r5.x, r4.y, g0.xxxx
ld_structured r5.yz, r4.x, l(0), g1.xxyx
ld_uav_typed r5.w, r4.xxxx, u2.xxxx
imul null, r3.x, vThreadIDInGroupFlattened.x, l(16)
store_raw u3.xyzw, r3.x, r5.xyzw
ret
"""


def test_loads_stores_group_shared_memory_and_sync(session):
    """ld_raw with a swizzle and past the end (0), ld_structured past the stride (0),
    store_raw/store_structured with masks, store_uav_typed/ld_uav_typed on an R32_UINT buffer,
    g# raw and structured memory and the typed UAV shared through sync_ugroup_g_t (each thread
    reads its neighbour's)."""
    d = session.device
    raw = np.arange(1000, 1000 + 66, dtype=np.uint32)  # 66 dwords: the last threads read past the end
    rsrv_buf = d.create_buffer(g.BufferDesc(raw.nbytes, B.SHADER_RESOURCE,
                                            misc_flags=g.ResourceMiscFlag.BUFFER_ALLOW_RAW_VIEWS), raw)
    rsrv = d.create_shader_resource_view(rsrv_buf, F.R32_TYPELESS, first_element=0, num_elements=66,
                                         flags=g.BufferViewFlag.RAW)
    structs = np.arange(64 * 3, dtype=np.uint32).reshape(64, 3) + 5000
    ssrv = session.structured_srv(structs)
    out0, u0 = session.raw_uav(64 * 8, np.full(64 * 8, 0xAAAAAAAA, np.uint32))
    sbuf = d.create_buffer(g.BufferDesc(64 * 8, B.UNORDERED_ACCESS, misc_flags=g.ResourceMiscFlag.BUFFER_STRUCTURED,
                                        structure_byte_stride=8), np.full(128, 0xBBBBBBBB, np.uint32))
    u1 = d.create_unordered_access_view(sbuf, F.UNKNOWN, first_element=0, num_elements=64)
    tbuf = d.create_buffer(g.BufferDesc(64 * 4, B.UNORDERED_ACCESS), np.zeros(64, np.uint32))
    u2 = d.create_unordered_access_view(tbuf, F.R32_UINT, first_element=0, num_elements=64)
    out3, u3 = session.raw_uav(64 * 4)
    session.run(MEMORY_CS, [rsrv, ssrv], [u0, u1, u2, u3])

    def raw_at(i):
        return int(raw[i]) if i < 66 else 0
    failures = []
    got0 = session.read(out0).reshape(64, 8)
    got1 = session.read(sbuf).reshape(64, 2)
    got3 = session.read(out3).reshape(64, 4)
    for t in range(64):
        r1 = [raw_at(t + k) for k in (3, 2, 1, 0)]  # .wzyx of words t..t+3
        r2 = [int(structs[t, 1]), int(structs[t, 2]), 0]  # offset 4 of a 12-byte structure: y, z, past the end
        want0 = r1 + r2 + [0xAAAAAAAA]
        want1 = [r1[0], r1[2]]
        n = (t + 1) % 64
        n1 = [raw_at(n + k) for k in (3, 2, 1, 0)]
        want3 = [n, n1[1], n1[0], n1[3]]
        for what, want, got in (("u0 (ld_raw/ld_structured/store_raw)", want0, got0[t]),
                                ("u1 (store_structured .xy)", want1, got1[t]),
                                ("u3 (g# raw/structured after sync, ld_uav_typed)", want3, got3[t])):
            if [int(v) for v in got] != want:
                failures.append(f"thread {t} {what}: expected {[hex(v) for v in want]}, "
                                f"got {[hex(int(v)) for v in got]}")
    record("loads/stores/tgsm/sync", failures[:12])


ATOMIC_CS = """
cs_5_0
dcl_uav_raw u0
dcl_uav_raw u1
dcl_input vThreadIDInGroupFlattened
dcl_tgsm_raw g0, 8
dcl_temps 4
dcl_thread_group 64, 1, 1
mov r0.x, vThreadIDInGroupFlattened.x
iadd r0.y, r0.x, l(-32)
ishl r0.z, l(1), r0.x
if_z r0.x
  store_raw g0.xy, l(0), l(0, 0, 0, 0)
endif
sync_g_t
atomic_iadd u0, l(0), r0.x
atomic_and u0, l(4), r0.z
atomic_or u0, l(8), r0.z
atomic_xor u0, l(12), r0.x
atomic_imax u0, l(16), r0.y
atomic_imin u0, l(20), r0.y
atomic_umax u0, l(24), r0.y
atomic_umin u0, l(28), r0.y
atomic_cmp_store u0, l(32), l(17), r0.x
atomic_iadd g0, l(0), r0.x
imm_atomic_iadd r1.x, u0, l(36), l(1)
imm_atomic_and r1.y, u0, l(40), r0.z
imm_atomic_or r1.z, u0, l(44), r0.z
imm_atomic_xor r1.w, u0, l(48), l(1)
imm_atomic_exch r2.x, u0, l(52), r0.x
imm_atomic_cmp_exch r2.y, u0, l(56), l(9), r0.x
imm_atomic_imax r2.z, u0, l(60), r0.y
imm_atomic_imin r2.w, u0, l(64), r0.y
imm_atomic_umax r3.x, u0, l(68), r0.x
imm_atomic_umin r3.y, u0, l(72), r0.x
imm_atomic_iadd r3.z, g0, l(4), l(2)
sync_g_t
ld_raw r3.w, l(0), g0.xxxx
imul null, r0.w, r0.x, l(48)
store_raw u1.xyzw, r0.w, r1.xyzw
iadd r0.w, r0.w, l(16)
store_raw u1.xyzw, r0.w, r2.xyzw
iadd r0.w, r0.w, l(16)
store_raw u1.xyzw, r0.w, r3.xyzw
ret
"""


def test_atomics(session):
    """Every atomic_* and imm_atomic_* on a raw UAV from 64 threads (and iadd on g#): the final
    values, and the returned originals as a set (the order among threads is unspecified)."""
    init = np.zeros(19, np.uint32)
    init[1] = 0xFFFFFFFF  # and-ed with 1 << (t & 31) (ishl masks the shift to 5 bits): 0
    init[4], init[5] = 0x80000000, 0x7FFFFFFF
    init[6], init[7] = 0, 0xFFFFFFFF
    init[8] = 17
    init[10], init[11] = 0xFFFFFFFF, 0
    init[12] = 0
    init[13] = 1234
    init[14] = 9
    init[15], init[16] = 0x80000000, 0x7FFFFFFF
    init[17], init[18] = 0, 0xFFFFFFFF
    buf0, u0 = session.raw_uav(19, init)
    buf1, u1 = session.raw_uav(64 * 12)
    session.run(ATOMIC_CS, [], [u0, u1])
    fin_ = session.read(buf0)
    ret = session.read(buf1).reshape(64, 12)
    t = np.arange(64)
    y = [s32((v - 32) & M32) for v in range(64)]
    bitsz = [(1 << (v & 31)) for v in range(64)]
    want_final = {
        0: sum(range(64)), 1: 0, 2: 0xFFFFFFFF, 3: 0,
        4: max(y) & M32, 5: min(y) & M32, 6: max(v & M32 for v in y), 7: min(v & M32 for v in y),
        9: 64, 10: 0, 11: 0xFFFFFFFF, 12: 0, 14: None, 15: 31, 16: (-32) & M32, 17: 63, 18: 0,
    }
    failures = []
    for k, w in want_final.items():
        if w is not None and int(fin_[k]) != w:
            failures.append(f"final dword {k}: expected {w:#x}, got {int(fin_[k]):#x}")
    if int(fin_[8]) not in range(64):  # cmp_store(17 -> t): exactly one thread wins
        failures.append(f"atomic_cmp_store: expected a thread id, got {int(fin_[8]):#x}")
    if int(fin_[13]) not in range(64):
        failures.append(f"imm_atomic_exch final: expected a thread id, got {int(fin_[13]):#x}")
    if int(fin_[14]) not in range(64):
        failures.append(f"imm_atomic_cmp_exch final: expected a thread id, got {int(fin_[14]):#x}")
    if sorted(ret[:, 0].tolist()) != list(range(64)):
        failures.append(f"imm_atomic_iadd returns: expected 0..63 once each, got {sorted(ret[:, 0].tolist())[:8]}...")
    if sorted(ret[:, 3].tolist()) != [0, 1] * 32 and sorted(ret[:, 3].tolist()) != sorted([0] * 32 + [1] * 32):
        failures.append("imm_atomic_xor returns: expected 32 zeros and 32 ones")
    exch = sorted(ret[:, 4].tolist())
    if 1234 not in exch or len(set(exch)) != 64:
        failures.append(f"imm_atomic_exch returns: expected 1234 and 63 distinct thread ids, got {exch[:6]}...")
    if sorted(set(ret[:, 5].tolist()) - {9}) and ret[:, 5].tolist().count(9) != 1:
        failures.append(f"imm_atomic_cmp_exch returns: expected one 9 (the winner), got {ret[:, 5].tolist()[:8]}")
    if int(ret[0, 11]) != sum(range(64)):
        failures.append(f"atomic_iadd on g#: expected {sum(range(64))}, got {int(ret[0, 11])}")
    if sorted(ret[:, 10].tolist()) != list(range(0, 128, 2)):
        failures.append("imm_atomic_iadd on g#: expected 0, 2, ..., 126 returned")
    record("atomics", failures)


# ----------------------------------------------------------------------------------------------
# 10. Coverage: the corpora's gaps, and which instructions this module runs
# ----------------------------------------------------------------------------------------------

#: Instructions pvgpu translates that this module does not run, and where they are tested.
TESTED_ELSEWHERE = {
    **{n: "test_resources.py / vkd3d rows (texture access)" for n in (
        "ld", "ld_ms", "resinfo", "sample", "sample_c", "sample_c_lz", "sample_l", "sample_d", "sample_b", "lod",
        "gather4", "gather4_c", "gather4_po", "gather4_po_c", "samplepos", "sampleinfo", "bufinfo")},
    **{n: "pixel shaders only: vkd3d rows, test_wgsl_alu.py (derivatives), test_dxbc_scenes.py" for n in (
        "deriv_rtx", "deriv_rty", "deriv_rtx_coarse", "deriv_rtx_fine", "deriv_rty_coarse", "deriv_rty_fine",
        "discard")},
    **{n: "geometry/hull stages: test_dxbc_scenes.py, tests/conformance" for n in (
        "emit", "cut", "emitThenCut", "emit_stream", "cut_stream", "emitThenCut_stream", "hs_decls",
        "hs_control_point_phase", "hs_fork_phase", "hs_join_phase")},
    "imm_atomic_alloc": "UAV counters: refused by the translator (atomics.py)",
    "imm_atomic_consume": "UAV counters: refused by the translator (atomics.py)",
}


def module_instruction_names() -> set[str]:
    texts = [FLOW_CS, MEMORY_CS, ATOMIC_CS]
    names: set[str] = set()
    for text in texts:
        names.update(i.name for i in decoder.decode(container.parse(assemble(text)).tokens).instructions)
    for batch in (UNARY, BINARY, INTEGER):
        for op in batch.ops:
            for line in op.asm.splitlines():
                word = line.split()[0]
                names.add(word if opcodes.by_name(word) else re.sub(r"_(sat|nz|z)$", "", word))
    return names


def test_corpus_gap_list_is_current():
    """The instructions neither corpus uses (decoded from every blob), as listed above."""
    gaps = instructions_not_in_corpora()
    if gaps is None:
        pytest.skip(f"the DXBC corpora are absent ({CORPUS}); see ../shared/dxbc/README.md")
    assert gaps == NOT_IN_CORPORA


def test_every_translated_instruction_is_run_or_accounted_for():
    from pvgpu.shaders.wgsl import writer
    translated = set(writer._load_handlers())
    run_here = module_instruction_names()
    table = [i.name for i in opcodes.OPCODES if not i.is_declaration]
    missing = [n for n in table if n in translated and n not in run_here and n not in TESTED_ELSEWHERE]
    doubles = [n for n in translated if opcodes.by_name(n) and opcodes.by_name(n).group == opcodes.Group.DOUBLE]
    missing = [n for n in missing if n not in doubles]
    assert not missing, f"translated but not run by any test here: {missing}"
    stale = [n for n in NOT_TRANSLATED if n in translated and n not in doubles]
    assert not stale, f"now translated, give them a test here: {stale}"
    # the corpora's gaps that pvgpu translates are run here (or need a pixel/geometry stage)
    gaps_unrun = [n for n in NOT_IN_CORPORA if n in translated and n not in run_here and n not in TESTED_ELSEWHERE]
    assert not gaps_unrun


# ----------------------------------------------------------------------------------------------
# 11. Pixel shader only: coarse and fine derivatives (not in the corpora)
# ----------------------------------------------------------------------------------------------

FULLSCREEN_VS = """
vs_4_0
dcl_input_sgv v0.x, vertex_id
dcl_output_siv o0.xyzw, position
dcl_temps 1
ishl r0.x, v0.x, l(1)
and r0.x, r0.x, l(2)
and r0.y, v0.x, l(2)
utof r0.xy, r0.xyxx
mad o0.xy, r0.xyxx, l(2.0, 2.0, 0.0, 0.0), l(-1.0, -1.0, 0.0, 0.0)
mov o0.zw, l(0, 0, 0.5, 1.0)
ret
"""

DERIV_PS = """
ps_5_0
dcl_input_ps_siv linear noperspective v0.xy, position
dcl_output o0.xyzw
dcl_temps 1
mul r0.x, v0.x, v0.x
mul r0.x, r0.x, v0.y
mul r0.y, v0.y, v0.y
mul r0.y, r0.y, v0.x
deriv_rtx_fine o0.x, r0.x
deriv_rtx_coarse o0.y, r0.x
deriv_rty_fine o0.z, r0.y
deriv_rty_coarse o0.w, r0.y
ret
"""


_deriv_frames: dict[str, np.ndarray] = {}


def derivative_frame(session) -> np.ndarray:
    if "frame" in _deriv_frames:
        return _deriv_frames["frame"]
    d = session.device
    size = 8
    tex = d.create_texture2d(g.Texture2DDesc(size, size, F.R32G32B32A32_FLOAT, bind_flags=B.RENDER_TARGET))
    rtv = d.create_render_target_view(tex)
    ctx = d.get_immediate_context()
    ctx.om_set_render_targets([rtv])
    ctx.ia_set_input_layout(None)
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.rs_set_state(d.create_rasterizer_state(g.RasterizerDesc(cull_mode=g.CullMode.NONE)))
    ctx.rs_set_viewports([g.Viewport(0, 0, size, size)])
    ctx.vs_set_shader(d.create_vertex_shader(assemble(FULLSCREEN_VS)))
    ctx.ps_set_shader(d.create_pixel_shader(assemble(DERIV_PS)))
    ctx.draw(3, 0)
    ctx.om_set_render_targets([])
    _deriv_frames["frame"] = gh.read_texture(d, tex).view(np.float32).reshape(size, size, 4)
    return _deriv_frames["frame"]


def test_coarse_and_fine_derivatives(session):
    """f = x*x*y and g = y*y*x at pixel centres: the fine x derivative is the difference across
    the 2x2 quad in the pixel's own row ((x1^2 - x0^2) * y), the coarse one that of either row
    of the quad; the same for y with g."""
    got = derivative_frame(session)
    size = got.shape[0]
    failures = []
    for py in range(size):
        for px in range(size):
            qx, qy = px & ~1, py & ~1
            x0, x1, y0, y1 = qx + 0.5, qx + 1.5, qy + 0.5, qy + 1.5
            x, y = px + 0.5, py + 0.5
            fine_x = (x1 * x1 - x0 * x0) * y
            coarse_x = {(x1 * x1 - x0 * x0) * y0, (x1 * x1 - x0 * x0) * y1}
            fine_y = (y1 * y1 - y0 * y0) * x
            coarse_y = {(y1 * y1 - y0 * y0) * x0, (y1 * y1 - y0 * y0) * x1}
            gx, gcx, gy, gcy = (float(v) for v in got[py, px])
            if gx != fine_x or gcx not in coarse_x or gy != fine_y or gcy not in coarse_y:
                failures.append(f"pixel ({px}, {py}): expected fine/coarse x {fine_x}/{sorted(coarse_x)}, "
                                f"y {fine_y}/{sorted(coarse_y)}; got {gx}, {gcx}, {gy}, {gcy}")
    record("deriv_*_coarse/fine", failures[:12])


def test_coarse_derivative_is_one_value_per_quad(session):
    """D3D11.3 functional spec, deriv_rtx_coarse / deriv_rty_coarse: "the derivative will be
    calculated only once per 2x2 quad", so the four pixels of a quad read the same value
    (Vulkan/WGSL's dpdxCoarse may also be per row: a difference from D3D, not a driver bug)."""
    got = derivative_frame(session)
    size = got.shape[0]
    failures = []
    quads = got.reshape(size // 2, 2, size // 2, 2, 4)
    for c, what in ((1, "deriv_rtx_coarse"), (3, "deriv_rty_coarse")):
        q = quads[..., c]
        if not (q == q[:, :1, :, :1]).all():
            qy, qx = np.argwhere((q != q[:, :1, :, :1]).any(axis=(1, 3)))[0]
            failures.append(f"{what}: not one value per 2x2 quad; quad at pixel ({2 * qx}, {2 * qy}) got "
                            f"{q[qy, :, qx, :].tolist()} (rows)")
    record("deriv_*_coarse one value per quad", failures)
