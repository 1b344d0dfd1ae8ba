"""The assembler and the encoder: fxc's own listings and our disassembly of every corpus blob
assemble back to the original tokens and signatures; hand-written shaders give the tokens
the D3D11 token format defines; mistakes are ShaderInvalid naming the line and column.

Corpus tests read ../shared/dxbc (or $PVGPU_DXBC_CORPUS) and skip, saying so, where it is absent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from pathlib import Path

import pytest

from pvgpu.shaders import assembler, container, decoder, disasm, encoder, ir, opcodes
from pvgpu.shaders.errors import ShaderError, ShaderInvalid

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc"))


def corpus(name: str) -> tuple[list[dict], Path]:
    folder = CORPUS / name
    if not (folder / "index.json").is_file():
        pytest.skip(f"the DXBC corpus is absent ({folder}); these tests read ../shared/dxbc/{name}")
    return json.loads((folder / "index.json").read_text())["shaders"], folder


def programs(name: str):
    """(id, parsed blob, decoded program) of every corpus blob with a shader program."""
    shaders, folder = corpus(name)
    for entry in shaders:
        if not {"SHDR", "SHEX"} & set(entry["chunks"]):
            continue  # root signatures
        blob = container.parse((folder / entry["dxbc_file"]).read_bytes())
        yield entry["id"], blob, decoder.decode(blob.tokens)


def _blank(operand: ir.Operand) -> ir.Operand:
    if operand.type in (ir.OperandType.IMMEDIATE32, ir.OperandType.IMMEDIATE64):
        operand = dataclasses.replace(operand, values=())
    indices = tuple(dataclasses.replace(i, relative=_blank(i.relative) if i.relative else None)
                    for i in operand.indices)
    return dataclasses.replace(operand, indices=indices)


def _without_immediates(program: ir.Program) -> list[ir.Instruction]:
    return [dataclasses.replace(i, operands=tuple(_blank(o) for o in i.operands), data=(), offset=0)
            for i in program.instructions]


def compare(original: ir.ShaderBlob, program: ir.Program, assembled: bytes) -> str:
    """"exact" (same tokens and signatures); "float-text" where only immediates differ and
    each differs only below what `%f` shows (fxc's listing rounds floats to 6 decimals: the
    text cannot hold more); otherwise a description of the first difference."""
    blob = container.parse(assembled)
    signatures = ("inputs", "outputs", "patch_constants")
    for role in signatures:
        if getattr(blob, role) != getattr(original, role):
            return f"{role} differ: {getattr(blob, role)} != {getattr(original, role)}"
    if blob.tokens == original.tokens:
        return "exact"
    ours = decoder.decode(blob.tokens)
    if _without_immediates(ours) == _without_immediates(program) and \
            disasm.disassemble(ours) == disasm.disassemble(program):
        return "float-text"
    for a, b in zip(program.instructions, ours.instructions):
        if a != b:
            return f"{disasm.instruction_text(a, program)!r} became {disasm.instruction_text(b, ours)!r}"
    return f"{len(program.instructions)} instructions became {len(ours.instructions)}"


# --- the encoder: the decoder's exact inverse -------------------------------------------------

@pytest.mark.parametrize("name", ["directxtk", "vkd3d-d3d12"])
def test_encode_inverts_decode_on_every_corpus_program(name):
    count = 0
    for shader_id, blob, program in programs(name):
        assert encoder.encode(program) == blob.tokens, shader_id
        count += 1
    assert count == {"directxtk": 173, "vkd3d-d3d12": 303}[name]


# --- fxc's own listings ------------------------------------------------------------------------

def test_every_directxtk_fxc_listing_assembles_to_its_blob():
    _, folder = corpus("directxtk")
    results: dict[str, list[str]] = {}
    for shader_id, blob, program in programs("directxtk"):
        listing = (folder / f"{shader_id}.asm").read_text()
        results.setdefault(compare(blob, program, assembler.assemble(listing)), []).append(shader_id)
    # 10 listings hold a float fxc rounded to 6 decimals (3.141593, 0.454545, ...)
    assert set(results) == {"exact", "float-text"}, {k: v for k, v in results.items() if k not in
                                                     ("exact", "float-text")}
    assert (len(results["exact"]), len(results["float-text"])) == (163, 10)
    assert "ToneMap_PSACESFilmic_SRGB" in results["float-text"]


# --- our disassembly -> assemble ------------------------------------------------------------------

#: Blobs whose disassembly cannot come back exactly, and why (everything else must).
DISASSEMBLY_EXCEPTIONS = {
    # disasm prints an IMMEDIATE64 with its two dwords swapped (high word first) and with %f;
    # the HLSL says 1.0000002433080226: the assembler writes d(...) low dword first
    "ps_dadd_code__0": "double immediate",
    "ps_dfma_code__0": "double immediate",
    # shader model 5.1 (Direct3D 12 register spaces): the disassembly drops the space of
    # samplers, UAVs and typed resources
    "cs_code__15": "sm5.1", "cs_code__16": "sm5.1", "cs_code__17": "sm5.1", "cs_code__18": "sm5.1",
    "ps_code__44": "sm5.1",
}


def test_corpus_disassembly_assembles_back_to_the_same_tokens():
    counts = {"exact": 0, "float-text": 0}
    failures = {}
    for name in ("directxtk", "vkd3d-d3d12"):
        for shader_id, blob, program in programs(name):
            text = disasm.disassemble(program, blob)
            try:
                result = compare(blob, program, assembler.assemble(text))
            except ShaderError as error:
                result = f"error: {error}"
            if result in counts:
                counts[result] += 1
                assert shader_id not in DISASSEMBLY_EXCEPTIONS, f"{shader_id} now round-trips: update the list"
            elif shader_id not in DISASSEMBLY_EXCEPTIONS:
                failures[shader_id] = result
    assert not failures, failures
    # 476 programs: all but the listed exceptions, exactly or but for %f-rounded floats
    assert counts["exact"] + counts["float-text"] == 476 - len(DISASSEMBLY_EXCEPTIONS)
    assert counts["exact"] >= 430, counts


def test_vs_ps_cs_of_vkd3d_round_trip_count():
    """The stages pvgpu translates: every vertex, pixel and compute shader but the listed."""
    exact = total = 0
    for shader_id, blob, program in programs("vkd3d-d3d12"):
        if program.type not in (ir.ProgramType.VERTEX, ir.ProgramType.PIXEL, ir.ProgramType.COMPUTE):
            continue
        total += 1
        if shader_id in DISASSEMBLY_EXCEPTIONS:
            continue
        result = compare(blob, program, assembler.assemble(disasm.disassemble(program, blob)))
        assert result in ("exact", "float-text"), (shader_id, result)
        exact += result == "exact"
    assert total == 270 and exact >= 240, (total, exact)


# --- hand-written shaders -------------------------------------------------------------------------

PIXEL = """
// in:  SV_Position 0 xyzw v0 float
// in:  TEXCOORD 0 xy v1 float
// out: SV_Target 0 xyzw o0 float
ps_5_0
dcl_globalFlags refactoringAllowed
dcl_constantbuffer CB0[4], dynamicIndexed
dcl_sampler s0, mode_default
dcl_resource_texture2d (float,float,float,float) t0
dcl_input_ps linear v1.xy
dcl_output o0.xyzw
dcl_temps 2
dcl_indexableTemp x0[4], 4
sample_aoffimmi_indexable(1,-2,0)(texture2d)(float,float,float,float) r0.xyzw, v1.xyxx, t0.xyzw, s0
ftoi r1.x, v1.x
mov x0[r1.x + 2].xyzw, -|r0.wzyx|
mad_sat r0.xyzw, cb0[r1.x + 1].xyzw, x0[r1.x + 0].xyzw, l(0.5, -1, 0x7fc00000, 1e-3)
if_nz r1.x
  discard_z r0.w
endif
mov o0.xyzw, r0.xyzw
ret
"""


def test_a_hand_written_pixel_shader_decodes_to_what_it_says():
    blob = container.parse(assembler.assemble(PIXEL))
    assert blob.chunks == ("ISGN", "OSGN", "SHEX")
    assert [(e.semantic_name, e.register, e.mask, e.system_value) for e in blob.inputs] == [
        ("SV_Position", 0, 0xF, ir.SystemValue.POSITION), ("TEXCOORD", 1, 0x3, ir.SystemValue.UNDEFINED)]
    assert [(e.semantic_name, e.system_value, e.rw_mask) for e in blob.outputs] == [
        ("SV_Target", ir.SystemValue.TARGET, 0)]
    program = decoder.decode(blob.tokens)
    by_name = {}
    for ins in program.instructions:
        by_name.setdefault(ins.name, ins)
    sample = by_name["sample"]
    assert sample.sample_offsets == (1, -2, 0)
    assert sample.resource_dimension == ir.ResourceDimension.TEXTURE2D
    assert sample.return_types == (ir.ReturnType.FLOAT,) * 4
    assert sample.operands[1].swizzle == (0, 1, 0, 0) and sample.operands[3].components == 0
    mov = [i for i in program.instructions if i.name == "mov"][0]
    target, source = mov.operands
    assert target.type == ir.OperandType.INDEXABLE_TEMP and target.mask == 0xF
    assert target.indices[0].immediate == 0 and target.indices[1].immediate == 2
    assert target.indices[1].representation == ir.IndexRepresentation.IMMEDIATE32_PLUS_RELATIVE
    assert target.indices[1].relative.swizzle == (0, 0, 0, 0)
    assert source.modifier == ir.Modifier.NEG | ir.Modifier.ABS and source.swizzle == (3, 2, 1, 0)
    mad = by_name["mad"]
    assert mad.saturate
    assert mad.operands[1].indices[1].immediate == 1
    assert mad.operands[2].indices[1].representation == ir.IndexRepresentation.RELATIVE
    assert mad.operands[3].values == (0x3F000000, 0xFFFFFFFF, 0x7FC00000, struct.unpack("<I", struct.pack("<f", 1e-3))[0])
    assert by_name["if"].test_nonzero is True and by_name["discard"].test_nonzero is False
    assert by_name["dcl_constantbuffer"].dynamic_indexed is True
    assert by_name["dcl_constantbuffer"].operands[0].indices[1].immediate == 4
    assert by_name["dcl_indexableTemp"].values == (0, 4, 4)
    assert by_name["dcl_globalFlags"].flags == 1
    assert program.profile == "ps_5_0"


def test_disassembling_a_hand_written_shader_and_assembling_it_again_is_an_identity():
    blob = container.parse(assembler.assemble(PIXEL))
    again = container.parse(assembler.assemble(disasm.disassemble(decoder.decode(blob.tokens), blob)))
    assert again.tokens == blob.tokens and again.inputs == blob.inputs and again.outputs == blob.outputs


@pytest.mark.parametrize("text, words", [
    ("l(1.0)", [0x3F800000]), ("l(1)", [1]), ("l(-1)", [0xFFFFFFFF]), ("l(0x80000000)", [0x80000000]),
    ("l(-2.5)", [0xC0200000]), ("l(1e2)", [0x42C80000]), ("l(inf)", [0x7F800000]),
    ("l(-1.#INF00)", [0xFF800000]), ("l(0.000000)", [0]), ("l(-0.0)", [0x80000000]),
    ("l(1, 2.0, 0x10, -3)", [1, 0x40000000, 16, 0xFFFFFFFD]),
])
def test_immediates_are_float_bits_only_when_written_as_floats(text, words):
    ins = assembler.parse(f"vs_4_0\nmov r0.xyzw, {text}\n").program.instructions[0]
    assert list(ins.operands[1].values) == words
    assert ins.operands[1].components == (1 if len(words) == 1 else 4)


def test_double_immediates_are_low_dword_first():
    ins = assembler.parse("ps_5_0\ndmov r0.xyzw, d(1.0000002433080226, 2.0)\n").program.instructions[0]
    low, high = struct.unpack("<II", struct.pack("<d", 1.0000002433080226))
    assert ins.operands[1].values == (low, high, 0, 0x40000000)


def test_compute_shader_declarations_and_sync():
    text = """
cs_5_0
dcl_globalFlags refactoringAllowed
dcl_uav_structured_glc u0, 16
dcl_uav_typed_texture2d (uint,uint,uint,uint) u1
dcl_resource_raw t0
dcl_input vThreadIDInGroupFlattened
dcl_input vThreadID.xy
dcl_temps 1
dcl_tgsm_structured g0, 4, 64
dcl_thread_group 8, 8, 1
ld_raw_indexable(raw_buffer)(mixed,mixed,mixed,mixed) r0.x, l(0), t0.xxxx
store_structured g0.x, vThreadIDInGroupFlattened.x, l(0), r0.x
sync_g_t
resinfo_indexable(texture2d)(uint,uint,uint,uint)_uint r0.xy, l(0), u1.xyzw
imm_atomic_iadd r0.z, u0, vThreadID.x, l(1)
ret
"""
    blob = container.parse(assembler.assemble(text))
    assert blob.inputs == () and blob.outputs == () and blob.chunks == ("ISGN", "OSGN", "SHEX")
    program = decoder.decode(blob.tokens)
    by_name = {}
    for ins in program.instructions:
        by_name.setdefault(ins.name, ins)
    assert by_name["dcl_uav_structured"].globally_coherent and by_name["dcl_uav_structured"].values == (16,)
    assert by_name["dcl_uav_typed"].resource_dimension == ir.ResourceDimension.TEXTURE2D
    assert by_name["dcl_uav_typed"].return_types == (ir.ReturnType.UINT,) * 4
    assert by_name["dcl_thread_group"].values == (8, 8, 1)
    assert by_name["dcl_tgsm_structured"].values == (4, 64)
    assert by_name["sync"].sync_flags == ir.SyncFlag.THREADS_IN_GROUP | ir.SyncFlag.THREAD_GROUP_SHARED_MEMORY
    assert by_name["resinfo"].resinfo_type == ir.ResInfoType.UINT
    assert by_name["ld_raw"].resource_dimension == ir.ResourceDimension.RAW_BUFFER
    assert by_name["ld_raw"].return_types == (ir.ReturnType.MIXED,) * 4
    assert by_name["dcl_input"].operands[0].type == ir.OperandType.INPUT_THREAD_ID_IN_GROUP_FLATTENED
    atomic = by_name["imm_atomic_iadd"]
    assert atomic.operands[1].type == ir.OperandType.UNORDERED_ACCESS_VIEW and atomic.operands[1].components == 0
    assert disasm.disassemble(program).splitlines()[1:] == [line.strip() for line in text.strip().splitlines()[1:]]


def test_immediate_constant_buffer_and_switch():
    text = """
ps_4_0
dcl_immediateConstantBuffer { { 1.0, 0, 0, 0},
                              { 0, 2, 0x3f800000, -1} }
dcl_input_ps constant v0.x
dcl_output o0.xyzw
dcl_temps 1
switch v0.x
  case l(1)
  mov o0.xyzw, icb[v0.x + 0].xyzw
  break
  default
  mov o0.xyzw, l(0, 0, 0, 0)
  break
endswitch
ret
"""
    assembled = assembler.parse(text)
    icb = assembled.program.instructions[0]
    assert icb.data == (0x3F800000, 0, 0, 0, 0, 2, 0x3F800000, 0xFFFFFFFF)
    program = decoder.decode(container.parse(assembler.assemble(text)).tokens)
    assert program.instructions[0].data == icb.data
    assert program.instructions[1].interpolation == ir.Interpolation.CONSTANT
    load = [i for i in program.instructions if i.name == "mov"][0].operands[1]
    assert load.type == ir.OperandType.IMMEDIATE_CONSTANT_BUFFER
    assert load.indices[0].representation == ir.IndexRepresentation.RELATIVE
    # derived signature: TEXCOORD<register> in, SV_Target<n> out
    assert [(e.semantic_name, e.semantic_index, e.mask) for e in assembled.inputs] == [("TEXCOORD", 0, 1)]
    assert [(e.semantic_name, e.semantic_index, e.system_value) for e in assembled.outputs] == [
        ("SV_Target", 0, ir.SystemValue.TARGET)]


def test_signatures_derived_from_declarations():
    text = """
vs_4_0
dcl_input v0.xyz
dcl_input v1.xy
dcl_input_sgv v2.x, vertex_id
dcl_output_siv o0.xyzw, position
dcl_output o1.xy
mov o0.xyzw, v0.xyzx
mov o1.xy, v1.xyxx
ret
"""
    assembled = assembler.parse(text)
    assert [(e.semantic_name, e.semantic_index, e.register, e.mask, e.system_value, e.component_type)
            for e in assembled.inputs] == [
        ("TEXCOORD", 0, 0, 0b111, ir.SystemValue.UNDEFINED, ir.ComponentType.FLOAT32),
        ("TEXCOORD", 1, 1, 0b11, ir.SystemValue.UNDEFINED, ir.ComponentType.FLOAT32),
        ("SV_VertexID", 0, 2, 0b1, ir.SystemValue.VERTEX_ID, ir.ComponentType.UINT32)]
    assert [(e.semantic_name, e.register, e.system_value, e.rw_mask) for e in assembled.outputs] == [
        ("SV_Position", 0, ir.SystemValue.POSITION, 0), ("TEXCOORD", 1, ir.SystemValue.UNDEFINED, 0b1100)]


def test_pixel_depth_output_and_signature_table_with_long_names():
    text = """
// Output signature:
//
// Name                 Index   Mask Register SysValue  Format   Used
// -------------------- ----- ------ -------- -------- ------- ------
// SV_Target                0   xyzw        0   TARGET   float   xyzw
// SV_Depth                 0    N/A   oDepth    DEPTH   float    YES
// SV_RenderTargetArrayIndex     0   x           2  RTINDEX    uint   x
//
ps_4_0
dcl_output o0.xyzw
dcl_output oDepth
mov o0.xyzw, l(0, 0, 0, 0)
mov oDepth, l(0.5)
ret
"""
    assembled = assembler.parse(text)
    assert [(e.semantic_name, e.register, e.mask, e.rw_mask, e.system_value) for e in assembled.outputs] == [
        ("SV_Target", 0, 0xF, 0, ir.SystemValue.TARGET), ("SV_Depth", 0xFFFFFFFF, 1, 0xE, ir.SystemValue.DEPTH),
        ("SV_RenderTargetArrayIndex", 2, 1, 0xE, ir.SystemValue.RENDER_TARGET_ARRAY_INDEX)]
    program = decoder.decode(container.parse(assembler.assemble(text)).tokens)
    assert program.instructions[1].operands[0].type == ir.OperandType.OUTPUT_DEPTH
    assert program.instructions[1].operands[0].components == 1


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("frobnicate r0.x, r1.x", "line 4, column 1: unknown instruction 'frobnicate'"),
    ("mov r0.x, q1.x", "line 4, column 11: unknown register 'q1'"),
    ("mov r0.xq, r1.x", "line 4, column 7: bad component mask or swizzle '.xq'"),
    ("mov r0.yx, r1.x", "line 4, column 7: bad write mask .yx"),
    ("mov r0.x, r1.x, r2.x", "line 4, column 5: mov takes 2 operands, found 3"),
    ("mov r0.x, l(1, 2)", "line 4, column 11: l(...) holds 1 or 4 values, not 2"),
    ("mov r0.x, l(1.5e99)", "line 4, column 11: value 1.5e99 is too large for a 32-bit float"),
    ("mov -r0.x, r1.x", "line 4, column 5: a destination takes no - or |x| modifier"),
    ("if r0.x", "line 4, column 1: if needs _nz or _z"),
    ("add_nz r0.x, r1.x, r2.x", "line 4, column 1: add takes no _nz modifier"),
    ("mov r0.x, cb0[r1.xy + 1].x", "line 4, column 17: a relative index selects one component"),
    ("mov r0.x, r", "line 4, column 11: register 'r' needs a number"),
    ("dcl_sampler s0, mode_fancy", "line 4, column 17: dcl_sampler: unknown sampler mode 'mode_fancy'"),
])
def test_mistakes_name_line_and_column(line, message):
    text = f"// a comment\nps_4_0\ndcl_temps 3\n{line}\nret\n"
    with pytest.raises(ShaderInvalid) as raised:
        assembler.assemble(text)
    assert str(raised.value).startswith(message), str(raised.value)


def test_no_profile_is_an_error():
    with pytest.raises(ShaderInvalid, match="no profile line"):
        assembler.assemble("mov r0.x, r1.x\n")


# --- every instruction of the table, not only the corpora's -----------------------------------------

_UNWRAPPABLE = {"else", "endif", "endloop", "endswitch", "case", "default", "switch", "label", "call", "callc",
                "abort", "debug_break", "loop"}


def _synthetic(info: opcodes.OpcodeInfo) -> ir.Instruction:
    """One instance of a table row: every operand of its kind, every control field set."""
    C = opcodes.Control

    def register(kind: ir.OperandType, number: int, **shape) -> ir.Operand:
        return ir.Operand(type=kind, indices=(ir.Index(number),), **shape)

    none = dict(components=0, selection=ir.Selection.MASK, mask=0, swizzle=(0, 0, 0, 0))
    operands = []
    for k in info.operands:
        if k.role == "D" and k.type == "r":
            operands.append(register(ir.OperandType.UNORDERED_ACCESS_VIEW, 1, selection=ir.Selection.MASK, mask=1))
        elif k.role == "D":
            operands.append(register(ir.OperandType.TEMP, len(operands), selection=ir.Selection.MASK, mask=0b1011))
        elif k.type == "r":
            operands.append(register(ir.OperandType.RESOURCE, 2, swizzle=(1, 0, 2, 3)))
        elif k.type == "s":
            operands.append(register(ir.OperandType.SAMPLER, 3, **none))
        elif k.type == "*":
            operands.append(register(ir.OperandType.STREAM, 1, **none))
        else:
            modifier = ir.Modifier.NEG if k.type == "f" else ir.Modifier.ABS if k.type == "i" else ir.Modifier.NONE
            operands.append(register(ir.OperandType.TEMP, 5, swizzle=(3, 1, 2, 0), modifier=modifier))
    fields: dict = {}
    if info.has(C.SATURATE):
        fields["saturate"] = True
    if info.has(C.TEST):
        fields["test_nonzero"] = info.number % 2 == 0
    if info.has(C.PRECISE):
        fields["precise_mask"] = 0b0101
    if info.has(C.RESINFO):
        fields["resinfo_type"] = ir.ResInfoType.RCP_FLOAT
    if info.has(C.SAMPLEINFO):
        fields["resinfo_type"] = ir.ResInfoType.UINT
    if info.has(C.SYNC):
        fields["sync_flags"] = ir.SyncFlag(0b1011)
    if info.group == opcodes.Group.RESOURCE and any(k.type == "r" and k.role == "S" for k in info.operands):
        fields["resource_dimension"] = ir.ResourceDimension.TEXTURE2DARRAY
        fields["return_types"] = (ir.ReturnType.FLOAT, ir.ReturnType.UINT, ir.ReturnType.SINT, ir.ReturnType.UNORM)
        if info.name.startswith(("sample", "ld", "gather4")) and "_po" not in info.name:
            fields["sample_offsets"] = (-1, 2, 0)
    return ir.Instruction(name=info.name, opcode=info.number, operands=tuple(operands), **fields)


def test_every_instruction_of_the_opcode_table_round_trips_through_its_disassembly():
    checked = []
    for info in opcodes.OPCODES:
        if info.is_declaration or info.group in (opcodes.Group.INTERFACE, opcodes.Group.HULL_PHASE) \
                or info.name in _UNWRAPPABLE:
            continue
        geometry = info.group == opcodes.Group.GEOMETRY
        header = assembler.parse(("gs_5_0" if geometry else "ps_5_0") + """
dcl_temps 8
dcl_resource_texture2darray (float,float,float,float) t2
dcl_sampler s3, mode_default
dcl_uav_typed_texture2d (float,float,float,float) u1
""" + ("dcl_stream m1\n" if geometry else "") + "loop\nendloop\nendif\n").program.instructions
        *declarations, loop, endloop, endif = header
        ins = _synthetic(info)
        body = (loop, ins, endif, endloop) if info.name == "if" else (loop, ins, endloop)
        program = ir.Program(ir.ProgramType.GEOMETRY if geometry else ir.ProgramType.PIXEL, 5, 0,
                             tuple(declarations) + body)
        tokens = encoder.encode(program)
        text = disasm.disassemble(decoder.decode(tokens))
        assert encoder.encode(assembler.parse(text).program) == tokens, (info.name, text)
        checked.append(info.name)
    assert len(checked) == 172 and {"sample_d_cl_s", "imm_atomic_cmp_exch", "swapc", "dfma", "sync"} <= set(checked)
