"""Fuzz campaign for the DXBC translator (issue 8, "Bad input").

Mutations of the real corpus blobs (../shared/dxbc), re-checksummed so that they get past
the checksum, go through the whole translator:

    container.parse -> decoder.decode -> translate.load -> translate.to_wgsl

Byte-level mutations (bit flips, interesting bytes and dwords, token bit fields, dword inserts
and deletes with the chunk size, program length, chunk offsets and total size fixed up,
instructions spliced between blobs, truncation) and, with the project's encoder, IR-level ones
(decode, edit operands / opcodes of one layout / dimensions / declarations, re-encode). 40 % of
the translations use a random bind-time specialization (texture kinds, constant-buffer sizes,
typed-buffer widths, vertex input types, varyings linked with a corpus shader of the other
stage); all get the wgpu features the host gives translations on this device.

Only `ShaderError` (ShaderInvalid / ShaderUnsupported) may escape. Anything else, or one input
using more than `--time-limit` seconds of CPU, is a *finding*. Every Nth translated module
(`--wgpu-every`) is compiled by wgpu (`create_shader_module` on pvgpu's device) in a child
process, so that a naga panic or abort is seen as a dead child rather than a dead campaign;
a rejection, a dead child or a hung compile is a finding too.

    python benchmarks/shader_fuzz.py --count 1000000 --seed 1 --jobs 2 [--wgpu-every 200] [--seconds 900]
    python benchmarks/shader_fuzz.py --replay 1:123456       # re-run input 123456 of seed 1

Input i of a seed is a pure function of (seed, i): `--replay SEED:I` rebuilds it, prints
what happens and writes the blob with `--save`. Findings are written, one reproducer per
distinct (stage, exception, place), under `--out` (default /tmp/shader_fuzz) with a
findings.md beside them.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from pvgpu.shaders import container, decoder, ir, opcodes  # noqa: E402
from pvgpu.shaders.errors import ShaderError, ShaderUnsupported  # noqa: E402

CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc"))
STAGES = ("container", "decoder", "load", "writer", "writer-spec")
INTERESTING_DWORDS = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096,
                      4097, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x00FFFFFF, 0x01000000, 0x7FFFFFFE, 0x7FFFFFFF,
                      0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF, 1000000000, 0x3F800000, 0x7F800000,
                      0x7FC00000, 0xFF800000)
INTERESTING_BYTES = (0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF)
TRANSLATED_TYPES = (0, 1, 5)  # pixel, vertex, compute
IR_SHARE = 0.4  # share of inputs that start from an IR-level mutation


def _translate_module():
    try:
        from pvgpu.shaders import translate  # noqa: PLC0415
    except ImportError:
        return None
    return translate if hasattr(translate, "load") and hasattr(translate, "to_wgsl") else None


# --- seeds ---------------------------------------------------------------------------------------

@dataclass
class Seed:
    name: str
    blob: bytes
    program_at: int  # byte offset of the program chunk's body in the blob
    program_size: int  # its body size in bytes
    instructions: list[tuple[int, int]]  # (dword offset, dword length) in the program, fully decoded
    program_type: int = 0
    program: object = None  # the decoded ir.Program, for the IR-level mutations


def _instruction_spans(tokens: bytes) -> list[tuple[int, int]]:
    words = struct.unpack(f"<{len(tokens) // 4}I", tokens[:len(tokens) // 4 * 4])
    if len(words) < 2:
        return []
    spans, pos, end = [], 2, min(words[1], len(words))
    while pos < end:
        token = words[pos]
        if token & 0x7FF == 0x35:  # customdata: length in the next dword
            length = words[pos + 1] if pos + 1 < end else 0
        else:
            length = (token >> 24) & 0x7F
        if length == 0 or pos + length > end:
            break
        spans.append((pos, length))
        pos += length
    return spans


def program_chunk(blob: bytes) -> tuple[int, int] | None:
    """(body offset, body size) of the SHDR/SHEX chunk of a well-formed container."""
    count = struct.unpack_from("<I", blob, 28)[0]
    for i in range(count):
        offset = struct.unpack_from("<I", blob, 32 + 4 * i)[0]
        if blob[offset:offset + 4] in (b"SHDR", b"SHEX"):
            return offset + 8, struct.unpack_from("<I", blob, offset + 4)[0]
    return None


def load_seeds(corpus: Path = CORPUS) -> list[Seed]:
    seeds = []
    for path in sorted(corpus.glob("*/*.dxbc")):
        blob = path.read_bytes()
        try:
            shader = container.parse(blob)
            decoder.decode(shader.tokens)
        except ShaderError:
            continue  # root signatures
        at, size = program_chunk(blob)
        seeds.append(Seed(f"{path.parent.name}/{path.name}", blob, at, size, _instruction_spans(blob[at:at + size]),
                          int(shader.program_type), decoder.decode(shader.tokens)))
    return seeds


# --- mutations -----------------------------------------------------------------------------------

class Blob:
    """A container being mutated, with the program chunk's place kept up to date."""

    def __init__(self, seed: Seed):
        self.data = bytearray(seed.blob)
        self.at = seed.program_at
        self.size = seed.program_size
        self.spans = list(seed.instructions)  # stale after byte-level edits; used for splicing only
        self.fix_total = True

    def word(self, at: int) -> int:
        return struct.unpack_from("<I", self.data, at)[0]

    def set_word(self, at: int, value: int) -> None:
        struct.pack_into("<I", self.data, at, value & 0xFFFFFFFF)

    def program_dword(self, rng: random.Random, first: int = 2) -> int:
        """Byte offset of a random dword of the program chunk (from dword `first`)."""
        count = self.size // 4
        if count <= first:
            return self.at
        return self.at + 4 * rng.randrange(first, count)

    def resize_program(self, at: int, remove: int, insert: bytes, fix_length: bool = True) -> None:
        """Replace `remove` bytes at `at` (inside the program) by `insert`, fixing the chunk
        size, the program length token, the offsets of later chunks and the total size."""
        delta = len(insert) - remove
        self.data[at:at + remove] = insert
        if delta == 0:
            return
        self.size += delta
        self.set_word(self.at - 4, self.size)
        if fix_length and self.size >= 8:
            self.set_word(self.at + 4, self.word(self.at + 4) + delta // 4)
        count = self.word(28) if len(self.data) >= 32 else 0
        for i in range(min(count, 64)):
            place = 32 + 4 * i
            if place + 4 <= len(self.data) and self.word(place) > self.at:
                self.set_word(place, self.word(place) + delta)

    def finish(self) -> bytes:
        if self.fix_total and len(self.data) >= 28:
            self.set_word(24, len(self.data))
        if len(self.data) >= 20:
            return container.with_checksum(bytes(self.data))
        return bytes(self.data)


def m_bit_flip(b: Blob, rng: random.Random, seeds) -> None:
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        if rng.random() < 0.85:
            at = rng.randrange(b.at, b.at + b.size)
        else:
            at = rng.randrange(20, len(b.data))
        b.data[at] ^= 1 << rng.randrange(8)


def m_byte(b: Blob, rng: random.Random, seeds) -> None:
    at = rng.randrange(b.at + 8, b.at + b.size) if rng.random() < 0.85 else rng.randrange(20, len(b.data))
    b.data[at] = rng.choice(INTERESTING_BYTES) if rng.random() < 0.7 else rng.randrange(256)


def m_dword(b: Blob, rng: random.Random, seeds) -> None:
    if rng.random() < 0.85:
        at = b.program_dword(rng, 1 if rng.random() < 0.03 else 2)
    else:
        at = 4 * rng.randrange(5, len(b.data) // 4)
    roll = rng.random()
    if roll < 0.6:
        value = rng.choice(INTERESTING_DWORDS)
    elif roll < 0.8:
        value = b.word(at) + rng.choice((-2, -1, 1, 2, 16, -16))
    else:
        value = rng.getrandbits(32)
    b.set_word(at, value)


def m_field(b: Blob, rng: random.Random, seeds) -> None:
    """One bit field of a program dword (an opcode, a length, an operand type, an index
    dimension...) set to a random value: token-shaped damage, more of it decodes."""
    at = b.program_dword(rng)
    low, width = rng.choice(((0, 11), (11, 13), (24, 7), (31, 1), (0, 2), (2, 2), (4, 8), (12, 8), (20, 2),
                             (22, 3), (25, 3), (0, 8), (rng.randrange(32), rng.randrange(1, 9))))
    width = min(width, 32 - low)
    mask = ((1 << width) - 1) << low
    value = rng.getrandbits(width) if rng.random() < 0.7 else rng.choice((0, (1 << width) - 1, 1))
    b.set_word(at, (b.word(at) & ~mask) | (value << low))


def m_insert(b: Blob, rng: random.Random, seeds) -> None:
    at = b.program_dword(rng)
    if rng.random() < 0.2:
        at = b.at + b.size  # at the end
    words = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.5:
            words.append(rng.choice(INTERESTING_DWORDS))
        elif roll < 0.8 and b.size > 8:
            words.append(b.word(b.program_dword(rng)))
        else:
            words.append(rng.getrandbits(32))
    b.resize_program(at, 0, struct.pack(f"<{len(words)}I", *words), fix_length=rng.random() < 0.9)


def m_delete(b: Blob, rng: random.Random, seeds) -> None:
    if b.size <= 12:
        return
    at = b.program_dword(rng)
    count = min(rng.randint(1, 4), (b.at + b.size - at) // 4)
    b.resize_program(at, 4 * count, b"", fix_length=rng.random() < 0.9)


def _instruction_bytes(seed: Seed, span: tuple[int, int]) -> bytes:
    start, length = span
    return seed.blob[seed.program_at + 4 * start:seed.program_at + 4 * (start + length)]


def m_splice(b: Blob, rng: random.Random, seeds) -> None:
    """Instructions moved between blobs, or within one: inserted, replaced, duplicated,
    deleted (structured damage that still decodes and reaches the writer)."""
    if not b.spans:
        return
    donor = rng.choice(seeds) if rng.random() < 0.6 else None
    if donor is not None and donor.instructions:
        first = rng.randrange(len(donor.instructions))
        run = donor.instructions[first:first + rng.choice((1, 1, 1, 2, 3, 8))]
        piece = b"".join(_instruction_bytes(donor, s) for s in run)
    else:
        start, length = rng.choice(b.spans)
        piece = bytes(b.data[b.at + 4 * start:b.at + 4 * (start + length)])
    start, length = rng.choice(b.spans)
    at = b.at + 4 * start
    action = rng.random()
    if action < 0.5:
        b.resize_program(at, 0, piece)
    elif action < 0.8:
        b.resize_program(at, 4 * length, piece)
    else:
        b.resize_program(at, 4 * length, b"")  # an instruction removed (an endif, a dcl...)
    b.spans = _instruction_spans(bytes(b.data[b.at:b.at + b.size])) if b.size >= 8 else []


def m_truncate(b: Blob, rng: random.Random, seeds) -> None:
    roll = rng.random()
    if roll < 0.4 and b.spans:  # the program cut at an instruction boundary
        start, _ = rng.choice(b.spans)
        remove = b.size - 4 * start
        b.resize_program(b.at + 4 * start, remove, b"")
        b.spans = [s for s in b.spans if s[0] + s[1] <= start]
    elif roll < 0.6:  # the program's length token shortened or lengthened only
        b.set_word(b.at + 4, b.word(b.at + 4) + rng.choice((-3, -2, -1, 1, 2, 100)))
    else:  # the container cut anywhere
        cut = rng.randrange(0, len(b.data))
        del b.data[cut:]
        b.fix_total = rng.random() < 0.8
        b.size = max(0, min(b.size, len(b.data) - b.at))


# --- IR-level mutations: decoded, changed, re-encoded (they decode, so they reach the writer) ----

try:
    from pvgpu.shaders import encoder  # noqa: E402
except ImportError:  # the encoder is written separately; byte-level mutations work without it
    encoder = None

_ALL_OPCODES = tuple(opcodes.OPCODES.values()) if isinstance(opcodes.OPCODES, dict) else tuple(opcodes.OPCODES)
_SAME_LAYOUT: dict[tuple, list] = collections.defaultdict(list)
for _info in _ALL_OPCODES:
    if not _info.is_declaration:
        _SAME_LAYOUT[_info.layout].append(_info)
INTERESTING_FLOATS = (0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000,
                      0x7F800001, 0xFFFFFFFF, 0x00000001, 0x007FFFFF, 0x4F000000, 0xCF000000, 0x7F7FFFFF,
                      0x3F000000, 31, 32, 33, 0x7FFFFFFF, 0x80000001)
_REGISTER_TYPES = (ir.OperandType.TEMP, ir.OperandType.INPUT, ir.OperandType.OUTPUT)


def _mutate_operand(op: ir.Operand, rng: random.Random) -> ir.Operand:
    roll = rng.randrange(9)
    if roll == 0 and op.components == 4:
        if op.selection == ir.Selection.MASK:
            return replace(op, mask=rng.randrange(1, 16))
        return replace(op, selection=ir.Selection.SWIZZLE, swizzle=tuple(rng.randrange(4) for _ in range(4)))
    if roll == 1 and op.components == 4 and op.selection != ir.Selection.MASK:
        c = rng.randrange(4)
        return replace(op, selection=ir.Selection.SELECT1, swizzle=(c, c, c, c), mask=1 << c)
    if roll == 2 and op.type not in (ir.OperandType.IMMEDIATE32, ir.OperandType.IMMEDIATE64):
        return replace(op, modifier=ir.Modifier(rng.randrange(4)))
    if roll == 3 and op.values:
        values = list(op.values)
        values[rng.randrange(len(values))] = rng.choice(INTERESTING_FLOATS)
        return replace(op, values=tuple(values))
    if roll in (4, 5) and op.indices:
        k = rng.randrange(len(op.indices))
        index = op.indices[k]
        immediate = max(0, index.immediate + rng.choice((-1, 1, 2, 7))) if rng.random() < 0.8 else \
            rng.choice((0, 1, 31, 32, 4095, 4096, 0xFFFFFFFF))
        return replace(op, indices=op.indices[:k] + (replace(index, immediate=immediate),) + op.indices[k + 1:])
    if roll == 6 and op.indices and op.indices[-1].relative is None:
        relative = ir.Operand(ir.OperandType.TEMP, 4, ir.Selection.SELECT1, 1 << 0, (0, 0, 0, 0),
                              (ir.Index(rng.randrange(4)),))
        last = replace(op.indices[-1], relative=relative, representation=ir.IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE)
        return replace(op, indices=op.indices[:-1] + (last,))
    if roll == 7 and op.type in _REGISTER_TYPES and len(op.indices) == 1:
        return replace(op, type=rng.choice(_REGISTER_TYPES))
    if roll == 8 and op.components == 4 and op.selection != ir.Selection.MASK:
        return replace(op, swizzle=tuple(rng.randrange(4) for _ in range(4)), selection=ir.Selection.SWIZZLE)
    return op


_DIMENSIONS = [d for d in ir.ResourceDimension if d not in (ir.ResourceDimension.UNKNOWN,)]
_RETURN_TYPES = [t for t in ir.ReturnType if t not in (ir.ReturnType.CONTINUED, ir.ReturnType.UNUSED)]


def _mutate_instruction(ins: ir.Instruction, rng: random.Random) -> ir.Instruction:
    roll = rng.randrange(10)
    info = opcodes.by_number(ins.opcode)
    if roll < 4 and ins.operands:
        k = rng.randrange(len(ins.operands))
        return replace(ins, operands=ins.operands[:k] + (_mutate_operand(ins.operands[k], rng),) + ins.operands[k + 1:])
    if roll == 4 and info is not None and not info.is_declaration and len(_SAME_LAYOUT[info.layout]) > 1:
        other = rng.choice(_SAME_LAYOUT[info.layout])
        return replace(ins, name=other.name, opcode=other.number)
    if roll == 5:
        if ins.resource_dimension is not None:
            return replace(ins, resource_dimension=rng.choice(_DIMENSIONS))
        if ins.sample_offsets is not None or ins.name.startswith(("sample", "ld", "gather")):
            return replace(ins, sample_offsets=tuple(rng.randrange(-8, 8) for _ in range(3)))
    if roll == 6:
        if ins.return_types is not None:
            return replace(ins, return_types=(rng.choice(_RETURN_TYPES),) * 4)
        if ins.sampler_mode is not None:
            return replace(ins, sampler_mode=ir.SamplerMode(rng.randrange(3)))
        if ins.interpolation is not None:
            return replace(ins, interpolation=ir.Interpolation(rng.randrange(8)))
        if ins.resinfo_type is not None:
            return replace(ins, resinfo_type=ir.ResInfoType(rng.randrange(3)))
    if roll == 7:
        if ins.test_nonzero is not None:
            return replace(ins, test_nonzero=not ins.test_nonzero)
        if ins.system_value is not None:
            return replace(ins, system_value=rng.choice(list(ir.SystemValue)[:24]))
        if ins.sync_flags is not None:
            return replace(ins, sync_flags=ir.SyncFlag(rng.randrange(16)))
        return replace(ins, saturate=not ins.saturate)
    if roll == 8 and ins.values:
        values = list(ins.values)
        k = rng.randrange(len(values))
        values[k] = max(0, values[k] + rng.choice((-1, 1, -4, 4, 16))) if rng.random() < 0.8 else rng.choice((0, 1, 64, 1024))
        return replace(ins, values=tuple(values))
    if roll == 9 and ins.data:
        data = list(ins.data)
        data[rng.randrange(len(data))] = rng.choice(INTERESTING_FLOATS)
        return replace(ins, data=tuple(data))
    return ins


def m_ir(b: Blob, rng: random.Random, seeds, seed: Seed) -> None:
    """1-4 field edits of the decoded program (operands, opcodes of the same layout, resource
    dimensions and return types, interpolation, tests, declaration values, immediates), or an
    instruction duplicated, dropped or moved; re-encoded in place of the program chunk."""
    program = seed.program
    instructions = list(program.instructions)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        k = rng.randrange(len(instructions))
        roll = rng.random()
        if roll < 0.8:
            instructions[k] = _mutate_instruction(instructions[k], rng)
        elif roll < 0.87:
            instructions.insert(rng.randrange(len(instructions)), instructions[k])
        elif roll < 0.94 and len(instructions) > 1:
            del instructions[k]
        else:
            j = rng.randrange(len(instructions))
            instructions[k], instructions[j] = instructions[j], instructions[k]
    tokens = encoder.encode(replace(program, instructions=tuple(instructions)))
    b.resize_program(b.at, b.size, tokens, fix_length=False)
    b.spans = _instruction_spans(tokens)


MUTATIONS = ((m_bit_flip, 14), (m_byte, 8), (m_dword, 16), (m_field, 18), (m_insert, 8), (m_delete, 8),
             (m_splice, 22), (m_truncate, 6))
_MUTATORS = [m for m, _ in MUTATIONS]
_WEIGHTS = [w for _, w in MUTATIONS]


def mutant(seeds: list[Seed], seed: int, index: int) -> tuple[bytes, str]:
    """Input `index` of campaign `seed`: (blob, what was done to which corpus blob)."""
    rng = random.Random(seed * 0x1_0000_0001 + index)
    base = rng.choice(seeds)
    if base.program_type not in TRANSLATED_TYPES and rng.random() < 0.8:
        base = rng.choice(seeds)  # fewer hull/domain/geometry bases: the translator refuses those at once
    b = Blob(base)
    done = []
    rounds = rng.choice((1, 1, 1, 2, 2, 3, 4, 6))
    if encoder is not None and base.program is not None and base.program.instructions and rng.random() < IR_SHARE:
        try:
            m_ir(b, rng, seeds, base)
            done.append("ir")
        except Exception:  # noqa: BLE001 (an edit the encoder cannot write: not the translator's problem)
            pass
        rounds = 1 if rng.random() < 0.3 else 0
    for _ in range(rounds):
        if b.size < 12 or b.size % 4 or b.at + b.size > len(b.data):
            break
        mutation = rng.choices(_MUTATORS, _WEIGHTS)[0]
        try:
            mutation(b, rng, seeds)
        except (ValueError, IndexError, struct.error):  # a mutation that does not fit this blob
            continue
        done.append(mutation.__name__[2:])
    return b.finish(), f"{base.name}: {'+'.join(done)}"


# --- running one input ---------------------------------------------------------------------------

class CpuTimeout(BaseException):
    """Raised by SIGPROF when one input uses more than the time limit of CPU."""


def _on_timeout(signum, frame):
    raise CpuTimeout()


@dataclass
class Outcome:
    stage: str  # the stage that refused or failed; "translated" when WGSL came out
    kind: str  # "translated", "ShaderInvalid", "ShaderUnsupported", or the unexpected exception's class
    message: str = ""
    where: str = ""  # innermost pvgpu frame of an unexpected exception
    wgsl: str | None = None
    seconds: float = 0.0

    @property
    def is_finding(self) -> bool:
        return self.kind not in ("translated", "ShaderInvalid", "ShaderUnsupported")


def _where(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "pvgpu" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename.split('src/')[-1]}:{f.lineno} in {f.name}"


_STAGE_FILES = {"container.py": "container", "checksum.py": "container", "decoder.py": "decoder",
                "translate.py": "load"}


def spec_random(seed: int, index: int) -> random.Random:
    return random.Random(f"spec:{seed}:{index}")


def _stage_of(error: BaseException, default: str) -> str:
    """The stage whose module raised `error` (the innermost of ours on its traceback)."""
    stage = default
    for frame, _ in traceback.walk_tb(error.__traceback__):
        stage = _STAGE_FILES.get(os.path.basename(frame.f_code.co_filename), stage)
    return stage


SPEC_SHARE = 0.4  # share of writer runs specialized on random bind-time facts (the rest: DEFAULT)


#: Loaded corpus vertex and pixel shaders the fuzz inputs are linked with (filled by `partners`).
PARTNERS: dict[int, list] = {}


def partners(seeds: list[Seed], translate) -> None:
    """Load the corpus's VS and PS once, so that `random_spec` can link a mutant with a real
    shader of the other stage (`translate.link`, as the host does at draw time)."""
    if translate is None or not hasattr(translate, "link"):
        return
    for seed in seeds:
        if seed.program_type in (ir.ProgramType.VERTEX, ir.ProgramType.PIXEL):
            try:
                PARTNERS.setdefault(seed.program_type, []).append(translate.load(seed.blob))
            except ShaderError:
                pass


def random_spec(shader, rng: random.Random, translate=None):
    """A Specialization a guest could cause by what it binds: any texture kind on a declared
    t# (a depth or integer view bound to a float slot...), constant buffers bound smaller than
    declared, typed buffer views of 1-4 values, vertex inputs fed other scalar types, a
    sample count, a base instance. Host features are left empty (none assumed)."""
    from pvgpu.shaders import specialization as sp  # noqa: PLC0415
    textures = tuple((slot, rng.choice(sp.TEXTURE_KINDS)) for slot in sorted(shader.textures) if rng.random() < 0.7)
    sizes = tuple((slot, rng.randint(1, max(1, size))) for slot, size in sorted(shader.constant_buffers.items())
                  if rng.random() < 0.4)
    typed = [(f"t{slot}", rng.randint(1, 4)) for slot, kind in sorted(shader.buffers.items()) if kind == "typed"]
    typed += [(f"u{slot}", rng.randint(1, 4)) for slot, (dim, kind) in sorted(shader.uavs.items())
              if kind == "typed" and dim == ir.ResourceDimension.BUFFER]
    inputs = ()
    if shader.stage == ir.ProgramType.VERTEX:
        inputs = tuple((k, rng.choice(("f32", "u32", "i32"))) for k in range(len(shader.blob.inputs))
                       if rng.random() < 0.3)
    varyings = None
    other = {ir.ProgramType.VERTEX: ir.ProgramType.PIXEL, ir.ProgramType.PIXEL: ir.ProgramType.VERTEX}.get(shader.stage)
    if translate is not None and PARTNERS.get(other) and rng.random() < 0.5:
        partner = rng.choice(PARTNERS[other])
        if shader.stage == ir.ProgramType.VERTEX:
            varyings = translate.link(shader, partner)[0]
        else:
            varyings = translate.link(partner, shader)[1]
    features = frozenset(f for f in FEATURES if rng.random() < 0.8)
    return sp.Specialization(features=features, vertex_inputs=inputs, varyings=varyings, textures=textures,
                             constant_buffer_sizes=sizes,
                             typed_buffers=tuple(sorted(t for t in typed if rng.random() < 0.6)),
                             sample_count=rng.choice((0, 1, 4)), base_instance=rng.choice((0, 0, 1, 7)))


#: wgpu features of the host's device given to every translation, as the host's
#: base_specialization does (set by the campaign from its wgpu child; empty: DEFAULT).
FEATURES: frozenset = frozenset()


def run_one(blob: bytes, translate=None, time_limit: float = 2.0, writer: bool = True,
            spec_rng: random.Random | None = None) -> Outcome:
    """The blob through every stage; never raises (but for KeyboardInterrupt). With the
    translator present, `translate.load` does the parsing and decoding, and the stage of a
    refusal is read off the traceback (the module that raised it)."""
    stage = "load"
    start = time.process_time()
    if time_limit:
        signal.setitimer(signal.ITIMER_PROF, time_limit)
    try:
        wgsl = None
        if translate is None:
            stage = "container"
            shader = container.parse(blob)
            stage = "decoder"
            decoder.decode(shader.tokens)
        else:
            loaded = translate.load(blob)
            if writer:
                stage = "writer"
                if spec_rng is not None and spec_rng.random() < SPEC_SHARE:
                    spec = random_spec(loaded, spec_rng, translate)
                    stage = "writer-spec"
                    wgsl = translate.to_wgsl(loaded, spec)
                elif FEATURES:
                    from pvgpu.shaders.specialization import Specialization  # noqa: PLC0415
                    wgsl = translate.to_wgsl(loaded, Specialization(features=FEATURES))
                else:
                    wgsl = translate.to_wgsl(loaded)
                if not isinstance(wgsl, str):
                    raise TypeError(f"to_wgsl returned {type(wgsl).__name__}, not str")
        outcome = Outcome(stage if translate is None or not writer else "translated", "translated", wgsl=wgsl)
        if stage == "writer-spec":
            outcome.message = repr(spec)
    except ShaderError as e:
        kind = "ShaderUnsupported" if isinstance(e, ShaderUnsupported) else "ShaderInvalid"
        outcome = Outcome(_stage_of(e, stage) if stage == "load" else stage, kind, str(e))
    except CpuTimeout as e:
        outcome = Outcome(stage, "Timeout", f"more than {time_limit} s of CPU", _where(e))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 (every other exception is what we hunt)
        outcome = Outcome(_stage_of(e, stage) if stage == "load" else stage, type(e).__name__, str(e)[:500],
                          _where(e))
    finally:
        if time_limit:
            signal.setitimer(signal.ITIMER_PROF, 0)
    outcome.seconds = time.process_time() - start
    return outcome


# --- wgpu in a child process ---------------------------------------------------------------------

FEATURES_REQUEST = b"\xff\xff\xff\xff"


class WgpuChild:
    """`create_shader_module` in a child process fed over a pipe (length-prefixed WGSL in,
    one JSON line out). A crash of the child is reported, and a fresh child started."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        def unlimited():
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        self.proc = subprocess.Popen([sys.executable, __file__, "--wgpu-child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=unlimited)

    def check(self, wgsl: str) -> tuple[str, str]:
        """("ok", "") | ("rejected", wgpu's message) | ("crashed", how) | ("hung", "")."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        data = wgsl.encode()
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        import selectors  # noqa: PLC0415
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(self.timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return "hung", f"no answer in {self.timeout} s"
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            err = self.proc.stderr.read().decode(errors="replace")[-2000:]
            self.proc = None
            return "crashed", f"child exit {code}: {err.strip()}"
        answer = json.loads(line)
        return answer["status"], answer.get("message", "")

    def features(self) -> frozenset[str]:
        """The wgpu features the host gives translations on this device (render/dxbc.py
        SHADER_FEATURES that the child's device has), as `base_specialization` does."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(FEATURES_REQUEST)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        return frozenset(json.loads(line)["features"]) if line else frozenset()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wgpu_child_main() -> None:
    import wgpu  # noqa: PLC0415
    from pvgpu.host import gpu  # noqa: PLC0415
    device, features = gpu.open_device()
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        if head == FEATURES_REQUEST:
            from pvgpu.host.render import dxbc  # noqa: PLC0415
            stdout.write(json.dumps({"status": "ok", "features": sorted(dxbc.SHADER_FEATURES & set(features))}) + "\n")
            stdout.flush()
            continue
        source = stdin.read(struct.unpack("<I", head)[0]).decode()
        try:
            device.create_shader_module(code=source)
            answer = {"status": "ok"}
        except wgpu.GPUError as e:
            answer = {"status": "rejected", "message": str(e)[:4000]}
        except Exception as e:  # noqa: BLE001
            answer = {"status": "rejected", "message": f"{type(e).__name__}: {e}"[:4000]}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


# --- the campaign --------------------------------------------------------------------------------

_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")


def normalized(message: str) -> str:
    return _NUMBER.sub("N", message.split("\n")[0])[:110]


@dataclass
class Tally:
    inputs: int = 0
    seconds: float = 0.0
    outcomes: collections.Counter = field(default_factory=collections.Counter)  # (stage, kind)
    reasons: collections.Counter = field(default_factory=collections.Counter)  # (stage, normalized message)
    wgpu: collections.Counter = field(default_factory=collections.Counter)
    slowest: float = 0.0
    findings: dict = field(default_factory=dict)  # key -> record

    def merge(self, other: Tally) -> None:
        self.inputs += other.inputs
        self.seconds = max(self.seconds, other.seconds)
        self.outcomes.update(other.outcomes)
        self.reasons.update(other.reasons)
        self.wgpu.update(other.wgpu)
        self.slowest = max(self.slowest, other.slowest)
        for key, record in other.findings.items():
            if key in self.findings:
                self.findings[key]["count"] += record["count"]
            elif "file" in record:
                self.findings[key] = dict(record)


def _finding(tally: Tally, seen: set, key: str, record: dict, blob: bytes, wgsl: str | None, out: Path) -> None:
    """Count a finding; its first occurrence in this worker writes the reproducer and sends
    the full record (later ones only a count: the coordinator merges by key)."""
    if key in seen:
        entry = tally.findings.setdefault(key, {"count": 0})
        entry["count"] += 1
        return
    seen.add(key)
    digest = hashlib.sha1(blob).hexdigest()[:10]
    out.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"{record['stage']}-{record['kind']}")[:40] + f"-{digest}"
    (out / f"{name}.dxbc").write_bytes(blob)
    if wgsl is not None:
        (out / f"{name}.wgsl").write_text(wgsl)
    record.update(count=1, file=str(out / f"{name}.dxbc"), size=len(blob))
    tally.findings[key] = record


def worker(job: int, jobs: int, args, queue, stop) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops us through `stop`
    if args.memory_limit:
        limit = args.memory_limit << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGPROF, _on_timeout)
    seeds = load_seeds(Path(args.corpus))
    translate = _translate_module()
    partners(seeds, translate)
    child = WgpuChild() if args.wgpu_every else None
    if child is not None and not args.no_features:
        global FEATURES
        FEATURES = child.features()
    out = Path(args.out)
    tally = Tally()
    seen: set = set()
    last = time.monotonic()
    translated = 0
    start = time.perf_counter()
    for index in range(args.start + job, args.start + args.count, jobs):
        if stop.is_set():
            break
        blob, how = mutant(seeds, args.seed, index)
        writer = args.writer_every <= 1 or index % args.writer_every == 0
        outcome = run_one(blob, translate, args.time_limit, writer, spec_random(args.seed, index))
        tally.inputs += 1
        tally.outcomes[(outcome.stage, outcome.kind)] += 1
        tally.slowest = max(tally.slowest, outcome.seconds)
        if outcome.kind in ("ShaderInvalid", "ShaderUnsupported"):
            tally.reasons[(outcome.stage, normalized(outcome.message))] += 1
        record = dict(index=index, seed=args.seed, how=how, stage=outcome.stage, kind=outcome.kind,
                      message=outcome.message[:1500], where=outcome.where)
        if outcome.is_finding:
            _finding(tally, seen, f"{outcome.stage}|{outcome.kind}|{outcome.where}", record, blob, None, out)
        elif outcome.seconds > args.time_limit:
            record.update(kind="Slow", message=f"{outcome.seconds:.2f} s of CPU")
            _finding(tally, seen, f"{outcome.stage}|Slow", record, blob, None, out)
        if outcome.wgsl is not None:
            translated += 1
            if child is not None and translated % args.wgpu_every == 0:
                status, message = child.check(outcome.wgsl)
                tally.wgpu[status] += 1
                if status != "ok":
                    spec = f"\nspecialization: {outcome.message}" if outcome.message else ""
                    record.update(stage="wgpu", kind=f"wgpu-{status}", message=message[:3000] + spec, where="")
                    _finding(tally, seen, f"wgpu|{status}|{normalized(_wgpu_gist(message))}", record, blob,
                             outcome.wgsl, out)
        now = time.monotonic()
        if now - last > 1.0:
            tally.seconds = time.perf_counter() - start
            queue.put(("progress", job, tally))
            tally = Tally()
            last = now
    if child is not None:
        child.close()
    tally.seconds = time.perf_counter() - start
    queue.put(("done", job, tally))


def _wgpu_gist(message: str) -> str:
    """The line of a naga error that says what is wrong (not the source excerpt)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("error:", "Shader validation error", "Error")) or "error" in line.lower():
            if len(line) > 12:
                return line
    return lines[0] if lines else message


def summary(total: Tally, elapsed: float, args, translate_present: bool) -> str:
    lines = [f"inputs: {total.inputs} in {elapsed:.1f} s = {total.inputs / max(elapsed, 1e-9):.0f}/s "
             f"({args.jobs} job(s)); slowest input {total.slowest * 1000:.1f} ms of CPU",
             f"translate.load/to_wgsl: {'present' if translate_present else 'ABSENT (container+decoder only)'}"
             + (f", writer on 1 in {args.writer_every}" if args.writer_every > 1 else ""),
             "", "| stage | outcome | inputs | share |", "| --- | --- | ---: | ---: |"]
    order = STAGES + ("translated",)
    for (stage, kind), n in sorted(total.outcomes.items(),
                                   key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else len(order), kv[0][1])):
        lines.append(f"| {stage} | {kind} | {n} | {100 * n / max(total.inputs, 1):.2f}% |")
    if total.wgpu:
        lines.append("")
        lines.append("wgpu create_shader_module on sampled translations: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(total.wgpu.items())))
    lines.append("")
    lines.append("most common refusals:")
    for (stage, reason), n in total.reasons.most_common(15):
        lines.append(f"  {n:8d}  {stage:9s} {reason}")
    lines.append("")
    lines.append(f"findings: {len(total.findings)} distinct, {sum(r['count'] for r in total.findings.values())} inputs")
    for key, r in total.findings.items():
        lines.append(f"  [{r['count']}x] {r['stage']} {r['kind']} at {r['where'] or '-'}: {r['message'][:300]}")
        lines.append(f"      input {r['seed']}:{r['index']} ({r['how']}), reproducer {r['file']}")
    return "\n".join(lines)


def findings_markdown(total: Tally, args) -> str:
    parts = [f"# DXBC fuzz findings (seed {args.seed}, inputs {args.start}..{args.start + args.count - 1})", ""]
    if not total.findings:
        parts.append("No findings.")
    for n, (key, r) in enumerate(total.findings.items(), 1):
        blob = Path(r["file"]).read_bytes() if Path(r["file"]).is_file() else b""
        parts += [f"## {n}. {r['stage']}: {r['kind']} ({r['count']} inputs)", "",
                  f"- where: `{r['where'] or '-'}`",
                  f"- input: `python benchmarks/shader_fuzz.py --replay {r['seed']}:{r['index']}` ({r['how']})",
                  f"- reproducer: `{r['file']}` ({r['size']} bytes)", "", "```", r["message"][:3000], "```", ""]
        if len(blob) <= 2048:
            parts += ["blob hex:", "", "```", blob.hex(), "```", ""]
    return "\n".join(parts)


def campaign(args) -> Tally:
    translate_present = _translate_module() is not None
    print(f"corpus {args.corpus}; translate {'present' if translate_present else 'absent'}; "
          f"{'DEFAULT specialization' if args.no_features or not args.wgpu_every else 'the device features'}; "
          f"{args.count} inputs from seed {args.seed} on {args.jobs} job(s)", flush=True)
    context = mp.get_context("fork")
    queue: mp.Queue = context.Queue()
    stop = context.Event()
    procs = [context.Process(target=worker, args=(j, args.jobs, args, queue, stop)) for j in range(args.jobs)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    total = Tally()
    done, last_print = 0, time.monotonic()
    running: dict[int, float] = {}
    try:
        while done < len(procs):
            if args.seconds and time.perf_counter() - start > args.seconds and not stop.is_set():
                print(f"time budget of {args.seconds} s spent: stopping", flush=True)
                stop.set()
            try:
                kind, job, tally = queue.get(timeout=5)
            except KeyboardInterrupt:
                print("interrupted: stopping the workers", flush=True)
                stop.set()
                continue
            except Exception:  # noqa: BLE001 (queue.Empty)
                if any(not p.is_alive() and p.exitcode not in (0, None) for p in procs):
                    print("a worker died:", [p.exitcode for p in procs], flush=True)
                    break
                continue
            total.merge(tally)
            if kind == "done":
                done += 1
            now = time.monotonic()
            if now - last_print >= args.progress:
                elapsed = time.perf_counter() - start
                translated = total.outcomes.get(("translated", "translated"), 0)
                print(f"[{elapsed:7.0f} s] {total.inputs:9d} inputs  {total.inputs / elapsed:7.0f}/s  "
                      f"translated {translated}  wgpu {dict(total.wgpu)}  findings {len(total.findings)}",
                      flush=True)
                last_print = now
    finally:
        for p in procs:
            p.join(timeout=30)
    elapsed = time.perf_counter() - start
    text = summary(total, elapsed, args, translate_present)
    print()
    print(text)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.txt").write_text(text + "\n")
    (Path(args.out) / "findings.md").write_text(findings_markdown(total, args))
    if args.report:
        Path(args.report).write_text(findings_markdown(total, args))
    return total


def replay(args) -> int:
    seed, index = (int(x) for x in args.replay.split(":"))
    seeds = load_seeds(Path(args.corpus))
    blob, how = mutant(seeds, seed, index)
    signal.signal(signal.SIGPROF, _on_timeout)
    partners(seeds, _translate_module())
    if args.wgpu_every and not args.no_features:
        global FEATURES
        child = WgpuChild()
        FEATURES = child.features()
        child.close()
    outcome = run_one(blob, _translate_module(), args.time_limit, spec_rng=spec_random(seed, index))
    print(f"input {seed}:{index}: {how}; {len(blob)} bytes")
    print(f"{outcome.stage}: {outcome.kind} {outcome.where} {outcome.message}")
    if args.save:
        Path(args.save).write_bytes(blob)
    if outcome.wgsl is not None and args.wgpu_every:
        child = WgpuChild()
        print("wgpu:", child.check(outcome.wgsl))
        child.close()
    return 1 if outcome.is_finding else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="index of the first input")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run --count)")
    parser.add_argument("--wgpu-every", type=int, default=200,
                        help="compile every Nth translated module with wgpu in a child (0: never)")
    parser.add_argument("--writer-every", type=int, default=1,
                        help="run the WGSL writer on every Nth input only (the rest stop after load)")
    parser.add_argument("--time-limit", type=float, default=2.0, help="CPU seconds one input may take")
    parser.add_argument("--memory-limit", type=int, default=3072, help="MiB of address space per worker (0: none)")
    parser.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--out", default="/tmp/shader_fuzz")
    parser.add_argument("--report", default=None, help="also write the findings as markdown here")
    parser.add_argument("--replay", default=None, metavar="SEED:INDEX")
    parser.add_argument("--save", default=None, help="with --replay: write the blob here")
    parser.add_argument("--no-features", action="store_true",
                        help="translate without the device's wgpu features (DEFAULT), unlike the host")
    parser.add_argument("--wgpu-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.wgpu_child:
        wgpu_child_main()
        return 0
    if not Path(args.corpus).is_dir():
        print(f"no DXBC corpus at {args.corpus} (see ../shared/dxbc/README.md)", file=sys.stderr)
        return 2
    if args.replay:
        return replay(args)
    total = campaign(args)
    return 1 if total.findings else 0


if __name__ == "__main__":
    sys.exit(main())
