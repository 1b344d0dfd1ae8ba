"""The SM4/5 opcode table and decoder: the real corpora decode, names match fxc's listing,
the token format's corners decode to the right IR, and hostile token streams are refused."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import pytest

from pvgpu.shaders import opcodes
from pvgpu.shaders.decoder import decode
from pvgpu.shaders.errors import ShaderInvalid, ShaderUnsupported
from pvgpu.shaders.ir import (IndexRepresentation, Interpolation, Modifier, OperandType, ProgramType, ResInfoType,
                              ResourceDimension, ReturnType, SamplerMode, Selection, SyncFlag, SystemValue)

CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "dxbc"))


def program_chunk(blob: bytes) -> bytes | None:
    """The SHDR/SHEX body of a container (the container module has its own tests)."""
    count = struct.unpack_from("<I", blob, 28)[0]
    for i in range(count):
        offset = struct.unpack_from("<I", blob, 32 + 4 * i)[0]
        tag, size = blob[offset:offset + 4], struct.unpack_from("<I", blob, offset + 4)[0]
        if tag in (b"SHDR", b"SHEX"):
            return blob[offset + 8:offset + 8 + size]
    return None


def corpus_files(folder: str) -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the DXBC corpora are not at {CORPUS} (see ../shared/dxbc/README.md)")
    return sorted((CORPUS / folder).glob("*.dxbc"))


def fxc_instruction_names(asm: Path) -> list[str]:
    """Mnemonics of fxc's SM4 listing (after the profile line), modifiers stripped."""
    names, started = [], False
    for line in asm.read_text().splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if not started:
            started = word in ("vs_4_0", "ps_4_0", "vs_5_0", "ps_5_0", "cs_5_0")
            continue
        if not word or word.startswith("//") or word == "Approximately":
            continue
        for suffix in ("_sat", "_nz", "_z"):
            word = word.removesuffix(suffix)
        if word.startswith("dcl_resource_") and word not in ("dcl_resource_raw", "dcl_resource_structured"):
            word = "dcl_resource"
        names.append(word)
    return names


# --- the table -------------------------------------------------------------------------------

def test_table_covers_the_instruction_set():
    assert len(opcodes.OPCODES) >= 200
    assert opcodes.by_number(0x00).name == "add"
    assert opcodes.by_number(0x45).name == "sample"
    assert opcodes.by_number(0x2E).name == "ld_ms"
    assert opcodes.by_number(0xBE).name == "sync"
    assert opcodes.by_number(0xD5).name == "msad"
    assert opcodes.by_number(0x6B) is None and opcodes.by_number(0x70) is None
    assert opcodes.by_name("dcl_immediateConstantBuffer").number == 0x35
    for info in opcodes.OPCODES:
        assert opcodes.by_name(info.name) is info
        assert opcodes.by_number(info.number) is info


def test_table_operand_kinds():
    sample = opcodes.by_name("sample_c")
    assert [str(k) for k in sample.operands] == ["Df", "Sf", "Sr", "Ss", "Sf"]
    assert sample.destinations == (opcodes.OperandKind("D", "f"),)
    imul = opcodes.by_name("imul")
    assert [k.role for k in imul.operands] == ["D", "D", "S", "S"]
    assert opcodes.by_name("dcl_indexableTemp").values == ("register", "size", "components")
    assert opcodes.by_name("mad").has(opcodes.Control.SATURATE)
    assert not opcodes.by_name("iadd").has(opcodes.Control.SATURATE)
    assert opcodes.by_name("if").has(opcodes.Control.TEST)
    assert opcodes.by_name("dcl_temps").is_declaration and not opcodes.by_name("mov").is_declaration
    assert opcodes.by_name("lod").model == (4, 1) and opcodes.by_name("bfi").model == (5, 0)
    assert "dcl_uav_typed" in opcodes.table_text()


# --- the corpora -----------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["directxtk", "vkd3d-d3d12"])
def test_every_corpus_program_decodes(folder):
    decoded = 0
    for path in corpus_files(folder):
        chunk = program_chunk(path.read_bytes())
        if chunk is None:
            continue  # D3D12 root-signature blobs
        program = decode(chunk)
        assert program.instructions, path.name
        assert all(opcodes.by_number(i.opcode) is not None for i in program.instructions)
        decoded += 1
    assert decoded == {"directxtk": 173, "vkd3d-d3d12": 303}[folder]


def test_decoded_names_equal_fxc_listing():
    paths = corpus_files("directxtk")
    for path in paths:
        program = decode(program_chunk(path.read_bytes()))
        expected = fxc_instruction_names(path.with_suffix(".asm"))
        assert [i.name for i in program.instructions] == expected, path.name


def test_corpus_program_fields():
    path = CORPUS / "directxtk" / "AlphaTestEffect_PSAlphaTestEqNe.dxbc"
    if not path.exists():
        pytest.skip(f"the DXBC corpora are not at {CORPUS}")
    program = decode(program_chunk(path.read_bytes()))
    assert program.type == ProgramType.PIXEL and program.profile == "ps_4_0"
    by_name = {i.name: i for i in program.instructions}
    cb = by_name["dcl_constantbuffer"]
    assert cb.dynamic_indexed is False and [x.immediate for x in cb.operands[0].indices] == [0, 3]
    assert by_name["dcl_sampler"].sampler_mode == SamplerMode.DEFAULT
    res = by_name["dcl_resource"]
    assert res.resource_dimension == ResourceDimension.TEXTURE2D
    assert res.return_types == (ReturnType.FLOAT,) * 4
    assert by_name["dcl_input_ps"].interpolation == Interpolation.LINEAR
    assert by_name["dcl_temps"].values == (2,)
    assert by_name["discard"].test_nonzero is True
    mad = next(i for i in program.instructions if i.name == "mad")
    assert mad.operands[0].mask == 0b0001 and mad.operands[0].selection == Selection.MASK
    assert mad.operands[3].modifier == Modifier.NEG and mad.operands[3].type == OperandType.CONSTANT_BUFFER
    lt_abs = next(i for i in program.instructions if i.name == "lt")
    assert lt_abs.operands[1].modifier == Modifier.ABS
    last_lt = [i for i in program.instructions if i.name == "lt"][-1]
    assert last_lt.operands[2].type == OperandType.IMMEDIATE32 and last_lt.operands[2].values == (0,)


# --- hand-made token streams ------------------------------------------------------------------

def op(number: int, *body: int, controls: int = 0, extended: bool = False) -> list[int]:
    return [number | controls << 11 | (len(body) + 1) << 24 | (1 << 31 if extended else 0), *body]


def program(*instructions: list[int], kind: int = 0, version: int = 0x50) -> bytes:
    body = [word for instruction in instructions for word in instruction]
    return struct.pack(f"<{len(body) + 2}I", kind << 16 | version, len(body) + 2, *body)


def reg(type_: int, *indices: int, comps: int = 2, mode: int = 0, sel: int = 0xF, ext: int | None = None) -> list[int]:
    token = comps | mode << 2 | sel << 4 | type_ << 12 | len(indices) << 20 | (1 << 31 if ext is not None else 0)
    return [token] + ([ext] if ext is not None else []) + list(indices)


def test_instruction_fields():
    tokens = program(
        op(0x68, 3),  # dcl_temps 3
        op(0x36, *reg(0, 0, sel=0b0011), *reg(4, comps=2, mode=1, sel=0xE4)[:1], 1, 2, 3, 4,
           controls=1 << 2),  # mov_sat r0.xy, l(1, 2, 3, 4)
        op(0x1F, *reg(0, 1, comps=2, mode=2, sel=2), controls=1 << 7),  # if_nz r1.z
        op(0x45, 0x00003E01, *reg(0, 2), *reg(0, 0, mode=1, sel=0xE4), *reg(7, 0, mode=1, sel=0xE4),
           *reg(6, 0, comps=0, sel=0), extended=True),  # sample_aoffimmi(-1,1,0)
        op(0x3D, *reg(0, 0), *reg(4, comps=1, sel=0)[:1], 0, *reg(7, 1, mode=1, sel=0xE4), controls=2),
        op(0xBE, controls=0b1011),  # sync_uglobal_g_t
        op(0x15),
        op(0x3E),
        kind=0)
    p = decode(tokens)
    names = [i.name for i in p.instructions]
    assert names == ["dcl_temps", "mov", "if", "sample", "resinfo", "sync", "endif", "ret"]
    mov = p.instructions[1]
    assert mov.saturate and mov.operands[0].mask == 0b0011
    assert mov.operands[1].values == (1, 2, 3, 4) and mov.operands[1].components == 4
    assert p.instructions[2].test_nonzero is True and p.instructions[2].operands[0].swizzle == (2, 2, 2, 2)
    sample = p.instructions[3]
    assert sample.sample_offsets == (-1, 1, 0)
    assert sample.operands[3].type == OperandType.SAMPLER and sample.operands[3].components == 0
    assert p.instructions[4].resinfo_type == ResInfoType.UINT
    assert p.instructions[5].sync_flags == (SyncFlag.THREADS_IN_GROUP | SyncFlag.THREAD_GROUP_SHARED_MEMORY
                                            | SyncFlag.UAV_MEMORY_GLOBAL)
    assert [i.offset for i in p.instructions] == [2, 4, 12, 15, 25, 32, 33, 34]


def test_relative_indices_and_modifiers():
    # mov r0.x, -|cb1[r2.y + 5].z|  (select-1 of a relative constant buffer read)
    relative = reg(0, 2, comps=2, mode=2, sel=1)
    cb = [2 | 2 << 2 | 2 << 4 | 8 << 12 | 2 << 20 | 3 << 25 | 1 << 31, 1 | 3 << 6, 1, 5, *relative]
    p = decode(program(op(0x68, 3), op(0x36, *reg(0, 0, sel=1), *cb)))
    src = p.instructions[1].operands[1]
    assert src.modifier == Modifier.NEG | Modifier.ABS
    assert src.indices[0].immediate == 1 and src.indices[0].relative is None
    assert src.indices[1].representation == IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE
    assert src.indices[1].immediate == 5 and src.indices[1].relative.type == OperandType.TEMP
    assert src.indices[1].relative.swizzle == (1, 1, 1, 1)


def test_declarations():
    tokens = program(
        op(0x6A, controls=1),  # dcl_globalFlags refactoringAllowed
        op(0x58, *reg(7, 3, comps=0, sel=0), 0x5555, controls=4 | 8 << 5),  # texture2dms(8)
        op(0x9C, *reg(30, 1, comps=0, sel=0), 0x4444, controls=3 | 1 << 5),  # uav_typed_texture2d_glc
        op(0x9E, *reg(30, 2, comps=0, sel=0), 16),
        op(0x61, *reg(1, 0, sel=1), 6),  # dcl_input_siv v0.x, vertex_id
        op(0x64, *reg(1, 1, sel=0xF), 1, controls=4),  # dcl_input_ps_siv linear noperspective v1, position
        op(0x69, 0, 8, 4),  # dcl_indexableTemp x0[8], 4
        op(0x9B, 8, 8, 1),
        [0x35 | 3 << 11, 6, 1, 2, 3, 4],  # dcl_immediateConstantBuffer { {1, 2, 3, 4} }
        kind=5)
    p = decode(tokens)
    i = {x.name: x for x in p.instructions}
    assert i["dcl_globalFlags"].flags == 1
    assert i["dcl_resource"].resource_dimension == ResourceDimension.TEXTURE2DMS
    assert i["dcl_resource"].sample_count == 8 and i["dcl_resource"].return_types == (ReturnType.FLOAT,) * 4
    assert i["dcl_uav_typed"].globally_coherent and i["dcl_uav_typed"].return_types == (ReturnType.UINT,) * 4
    assert i["dcl_uav_structured"].structure_stride == 16
    assert i["dcl_uav_structured"].resource_dimension == ResourceDimension.STRUCTURED_BUFFER
    assert i["dcl_input_siv"].system_value == SystemValue.VERTEX_ID
    assert i["dcl_input_ps_siv"].interpolation == Interpolation.LINEAR_NOPERSPECTIVE
    assert i["dcl_indexableTemp"].values == (0, 8, 4)
    assert i["dcl_thread_group"].values == (8, 8, 1)
    assert i["dcl_immediateConstantBuffer"].data == (1, 2, 3, 4)
    assert p.type == ProgramType.COMPUTE


# --- hostile input ------------------------------------------------------------------------------

@pytest.mark.parametrize("tokens, message", [
    (b"\x50\x00\x00\x00", "too short"),
    (program(op(0x3E))[:-1], "whole number of dwords"),
    (struct.pack("<3I", 0x50, 9, 0x0100003E), "program length 9"),
    (program([0x0100006B]), "unknown opcode 0x6b"),
    (program([0x0000003E]), "length 0"),
    (program([0x0500003E]), "runs past the end"),
    (program(op(0x68, 5000)), "5000 temps"),
    (program(op(0x69, 0, 100000, 4)), "too large"),
    (program(op(0x9B, 1024, 1024, 1)), "thread group"),
    (program(op(0x36, *reg(0, 0), *reg(0, 1), 7)), "disagrees"),
    (program(op(0x36, *reg(0, 0), reg(99, 0)[0], 0)), "unknown operand type 99"),
    (program(op(0x36, *reg(0, 0), 3 | 1 << 12)), "N-component"),
    (program(op(0x36, *reg(0, 0), 2 | 3 << 2 | 1 << 20, 0)), "selection mode 3"),
    (program(op(0x36, *reg(0, 0), 2 | 1 << 2 | 1 << 20 | 7 << 22, 0)), "unknown index representation 7"),
    (program(op(0x36, *reg(0, 0), *reg(0, 1, mode=1, sel=0xE4, ext=1 | 9 << 6))), "unknown operand modifier"),
    (program(op(0x45, 0x3F, *reg(0, 2), *reg(0, 0, mode=1), *reg(7, 0, mode=1), *reg(6, 0, comps=0, sel=0),
                extended=True)), "extended opcode token type 63"),
    (program(op(0x58, *reg(7, 0, comps=0, sel=0), 0xFFFF, controls=3)), "return type 15"),
    (program(op(0x61, *reg(1, 0, sel=1), 99)), "unknown system value 99"),
    (program(op(0x3E), version=0x30), "shader model 3.0"),
    (program(op(0x3E), kind=9), "program type 9"),
    (program([0x35 | 3 << 11, 3, 1]), "immediate constant buffer of 1 dwords"),
    (program([0x35 | 3 << 11]), "without its length"),
    (program(op(0x68, 2), op(0x36, *reg(0, 5), *reg(0, 0, mode=1, sel=0xE4))), "r5 used but dcl_temps declares 2"),
    (program(op(0x68, 2), op(0x36, *reg(0, 0), *reg(3, 1, 0, mode=1, sel=0xE4))), "x1 used but not declared"),
    (program(op(0x68, 1), op(0x2D, *reg(0, 0), *reg(0, 0, mode=1), *reg(7, 200, mode=1))), "resource register 200"),
    (program(op(0x68, 1), op(0x36, *reg(0, 0), *reg(8, 0, 5000, mode=1))), "cb0\\[5000\\] is past"),
    (program(op(0x5F, *reg(1, 40, sel=0xF))), "input register 40"),
    (program(op(0x30), op(0x15)), "endif without its if"),
    (program(op(0x30), op(0x3E)), "loop block not closed"),
    (program(op(0x12)), "else without if"),
    (program(op(0x02)), "break outside a loop or switch"),
    (program(op(0x06, *reg(4, comps=1, sel=0)[:1], 0)), "case outside a switch"),
    (program(*[op(0x30)] * 65), "nested deeper than 64"),
    (program(op(0x5A, *reg(0, 0, comps=0, sel=0))), "cannot declare a temp operand"),
    (program(op(0x58, reg(7, comps=0, sel=0)[0], 0x5555, controls=3)), "resource operand without a register number"),
    (program(op(0x68, 1), op(0x45, *reg(0, 0), *reg(0, 0, mode=1), *reg(7, 0, mode=1), *reg(0, 0, mode=1))),
     "a temp operand where a sampler goes"),
    (program(op(0x68, 1), op(0x2D, *reg(0, 0), *reg(0, 0, mode=1), *reg(8, 0, 0, mode=1))),
     "a constant_buffer operand where a resource goes"),
    (program(op(0x36, *reg(1, 0), *reg(4, comps=1, sel=0)[:1], 0)), "an input operand cannot be written"),
])
def test_bad_token_streams(tokens, message):
    with pytest.raises((ShaderInvalid, ShaderUnsupported), match=message.replace("(", r"\(")):
        decode(tokens)


def test_relative_nesting_is_bounded():
    depth = 50
    words = []
    for _ in range(depth):
        words += [2 | 2 << 2 | 3 << 12 | 2 << 20 | 2 << 25, 0]  # x0[<relative>]
    words += reg(0, 0, mode=2, sel=0)
    tokens = program(op(0x36, *reg(0, 0), *words))
    with pytest.raises(ShaderInvalid, match="nested too deeply"):
        decode(tokens)


def test_mutated_corpus_never_crashes():
    """Every mutation of a real program is decoded or refused with a ShaderError, never an IndexError."""
    import random
    paths = corpus_files("vkd3d-d3d12")
    rng = random.Random(8)
    chunks = [c for c in (program_chunk(p.read_bytes()) for p in paths[:80]) if c]
    for n in range(3000):
        data = bytearray(rng.choice(chunks))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(8, len(data))
            data[at] = rng.randrange(256)
        if n % 7 == 0:
            data = data[:rng.randrange(8, len(data)) // 4 * 4]
        try:
            decode(bytes(data))
        except (ShaderInvalid, ShaderUnsupported):
            pass


def test_instruction_count_is_bounded_and_cheap():
    import time
    from pvgpu.shaders.decoder import MAX_INSTRUCTIONS
    nops = program(*[op(0x3A)] * 199_000)  # ~800 KB, under the host's 1 MiB blob limit
    start = time.process_time()
    with pytest.raises(ShaderInvalid, match=f"more than {MAX_INSTRUCTIONS} instructions"):
        decode(nops)
    assert time.process_time() - start < 1.0
    add = op(0x00, *reg(0, 0), *reg(0, 0, mode=1, sel=0xE4), *reg(0, 1, mode=1, sel=0xE4))
    adds = program(op(0x68, 2), *[add] * 37_000)
    start = time.process_time()
    decoded = decode(adds)
    assert time.process_time() - start < 1.0
    assert len(decoded.instructions) == 37_001 and decoded.instructions[-1].offset == 4 + 7 * 36_999
    assert decoded.instructions[5] == dataclasses.replace(decoded.instructions[1], offset=4 + 7 * 4)
