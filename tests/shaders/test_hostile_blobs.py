"""Hand-made hostile DXBC blobs (issue 8, "Bad input"): each is refused with a clear
ShaderInvalid / ShaderUnsupported whose message names the problem, never another exception,
and quickly. Then a few of them through the host: each a host error, the session goes on.

Blobs are built with `container.build` from hand-written token lists (the token helpers are
the decoder tests' notation: `op(number, *body)`, `reg(type, *indices)`).
"""

from __future__ import annotations

import re
import signal
import struct
import time

import pytest

from pvgpu.shaders import container, ir
from pvgpu.shaders.errors import ShaderError, ShaderInvalid, ShaderUnsupported

translate = pytest.importorskip("pvgpu.shaders.translate")

#: One hostile blob must be refused in well under this (seconds of wall time on a busy 2-core box).
QUICK = 2.0

# --- token helpers ---------------------------------------------------------------------------------

TEMP, INPUT, OUTPUT, INDEXABLE, IMM32, SAMPLER, RESOURCE, CB, ICB, LABEL = 0, 1, 2, 3, 4, 6, 7, 8, 9, 10
TGSM = 31


def op(number: int, *body: int, controls: int = 0) -> list[int]:
    assert len(body) < 127, "an instruction's length field has 7 bits"
    return [number | controls << 11 | (len(body) + 1) << 24, *body]


def reg(type_: int, *indices: int, comps: int = 2, mode: int = 0, sel: int = 0xF) -> list[int]:
    """An operand token and its immediate indices (mode 0 mask, 1 swizzle, 2 select-1)."""
    return [comps | mode << 2 | sel << 4 | type_ << 12 | len(indices) << 20, *indices]


def src(type_: int, *indices: int) -> list[int]:
    return reg(type_, *indices, mode=1, sel=0xE4)  # .xyzw


def scalar(type_: int, index: int, component: int = 0) -> list[int]:
    return reg(type_, index, mode=2, sel=component)


def imm(*values: int) -> list[int]:
    if len(values) == 1:
        return [1 | IMM32 << 12, values[0]]
    return [2 | 1 << 2 | 0xE4 << 4 | IMM32 << 12, *values]


def relative(type_: int, base: int, index_operand: list[int]) -> list[int]:
    """type_[index_operand + base] (one index, immediate plus relative), .xyzw swizzle."""
    return [2 | 1 << 2 | 0xE4 << 4 | type_ << 12 | 1 << 20 | 3 << 22, base, *index_operand]


def program(*instructions: list[int], kind: int = 0, version: int = 0x40) -> bytes:
    body = [word for instruction in instructions for word in instruction]
    return struct.pack(f"<{len(body) + 2}I", kind << 16 | version, len(body) + 2, *body)


MOV, ADD, IF, ELSE, ENDIF, LOOP, ENDLOOP, BREAK, RET = 0x36, 0x00, 0x1F, 0x12, 0x15, 0x30, 0x16, 0x02, 0x3E
SWITCH, CASE, ENDSWITCH, CALL, LABEL_OP = 0x4C, 0x06, 0x17, 0x04, 0x2C
DCL_TEMPS, DCL_INDEXABLE, DCL_CB, DCL_INPUT_PS, DCL_OUTPUT, DCL_THREADS = 0x68, 0x69, 0x59, 0x62, 0x65, 0x9B
DCL_TGSM_RAW, DCL_TGSM_STRUCTURED, DCL_RESOURCE, DCL_SAMPLER = 0x9F, 0xA0, 0x58, 0x5A
IF_NZ = 1 << 7  # the opcode token's bit 18 (controls start at bit 11)


def element(name: str, register: int, sv=ir.SystemValue.UNDEFINED) -> ir.SignatureElement:
    return ir.SignatureElement(name, 0, sv, ir.ComponentType.FLOAT32, register, 0b1111, 0b1111)


PS_INPUTS = (element("TEXCOORD", 0),)
PS_OUTPUTS = (element("SV_Target", 0, ir.SystemValue.TARGET),)
PS_HEAD = (op(DCL_INPUT_PS, *reg(INPUT, 0), controls=2), op(DCL_OUTPUT, *reg(OUTPUT, 0)), op(DCL_TEMPS, 2))


def ps(*body: list[int], head=PS_HEAD) -> bytes:
    """A ps_4_0: TEXCOORD0 in v0, SV_Target in o0, dcl_temps 2 (unless `head` says otherwise),
    then `body` and a ret."""
    return container.build(program(*head, *body, op(RET)), PS_INPUTS, PS_OUTPUTS)


def cs(*body: list[int], head=(op(DCL_THREADS, 1, 1, 1),)) -> bytes:
    return container.build(program(*head, *body, op(RET), kind=5, version=0x50))


def nested(depth: int, opening: list[int], closing: list[int]) -> list[list[int]]:
    return [opening] * depth + [closing] * depth


VALID_PS = ps(op(MOV, *reg(OUTPUT, 0), *src(INPUT, 0)))


def patched(blob: bytes, offset: int, fmt: str, *values, checksum: bool = True) -> bytes:
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, *values)
    return container.with_checksum(bytes(data)) if checksum else bytes(data)


def chunk_offset(blob: bytes, fourcc: bytes) -> int:
    count = struct.unpack_from("<I", blob, 28)[0]
    for i in range(count):
        offset = struct.unpack_from("<I", blob, 32 + 4 * i)[0]
        if blob[offset:offset + 4] == fourcc:
            return offset
    raise KeyError(fourcc)


def refused(blob: bytes) -> ShaderError:
    """The translator's error for `blob` (load, then to_wgsl), checked to come quickly."""
    start = time.perf_counter()
    try:
        shader = translate.load(blob)
        wgsl = translate.to_wgsl(shader)
    except ShaderError as e:
        error = e
    else:
        pytest.fail(f"translated instead of refused:\n{wgsl[:2000]}")
    elapsed = time.perf_counter() - start
    assert elapsed < QUICK, f"refusing took {elapsed:.2f} s"
    return error


def test_the_valid_shader_translates():
    """The base the hostile variants start from is good, so each refusal is about its damage."""
    assert "fn" in translate.to_wgsl(translate.load(VALID_PS))
    assert translate.to_wgsl(translate.load(cs()))


# --- the container -----------------------------------------------------------------------------------

PROGRAM_AT = chunk_offset(VALID_PS, b"SHDR")

CONTAINER_CASES = {
    "empty": (b"", r"0 bytes.*header"),
    "magic only": (b"DXBC", r"4 bytes.*header"),
    "not dxbc": (b"DXBD" + VALID_PS[4:], r"not a DXBC container"),
    "cut in the chunk table": (VALID_PS[:36], r"checksum|header says|chunk table"),
    "cut in a chunk": (VALID_PS[:PROGRAM_AT + 12], r"checksum|header says"),
    "cut, size and checksum repaired": (
        patched(VALID_PS[:PROGRAM_AT + 12], 24, "<I", PROGRAM_AT + 12), r"run past|length token"),
    "wrong checksum": (patched(VALID_PS, 4, "<I", 0x12345678, checksum=False), r"checksum mismatch"),
    "a flipped program byte": (patched(VALID_PS, PROGRAM_AT + 20, "<B", 0x5A, checksum=False), r"checksum"),
    "chunk offset past the end": (patched(VALID_PS, 32, "<I", 0xFFFFFFF0), r"chunk 0: offset 4294967280"),
    "chunk offset into the header": (patched(VALID_PS, 32, "<I", 8), r"chunk 0: offset 8"),
    "chunk offset unaligned": (patched(VALID_PS, 32, "<I", 46), r"chunk 0: offset 46"),
    "chunk size past the end": (patched(VALID_PS, PROGRAM_AT + 4, "<I", 0x7FFFFFFF), r"SHDR.*run past"),
    "chunk count absurd": (patched(VALID_PS, 28, "<I", 0xFFFFFFFF), r"chunk count 4294967295"),
    "total size wrong": (patched(VALID_PS, 24, "<I", len(VALID_PS) + 4), r"header says"),
    "container version": (patched(VALID_PS, 20, "<I", 2), r"container version 2"),
    "program length token past its chunk": (patched(VALID_PS, PROGRAM_AT + 12, "<I", 1000), r"length.*1000"),
    "program length token 0": (patched(VALID_PS, PROGRAM_AT + 12, "<I", 0), r"length"),
    "unknown program type": (patched(VALID_PS, PROGRAM_AT + 8, "<I", 0x000F0040), r"program type 15"),
    "shader model 3.0": (patched(VALID_PS, PROGRAM_AT + 8, "<I", 0x30), r"shader model 3\.0"),
    "no program chunk": (container.assemble_chunks([("ISGN", container.write_signature("ISGN", ()))]),
                         r"no shader program chunk"),
}


@pytest.mark.parametrize("blob, words", CONTAINER_CASES.values(), ids=CONTAINER_CASES.keys())
def test_hostile_containers(blob, words):
    error = refused(blob)
    assert isinstance(error, ShaderInvalid | ShaderUnsupported)
    assert re.search(words, str(error)), str(error)


# --- the program ---------------------------------------------------------------------------------------

def relative_chain(depth: int) -> list[int]:
    """x0[x0[...x0[r0.x].x...].x] `depth` levels deep (one dcl_indexableTemp x0[4])."""
    inner = scalar(TEMP, 0)
    for _ in range(depth):
        inner = [2 | 2 << 2 | 0 << 4 | INDEXABLE << 12 | 2 << 20 | 0 << 22 | 3 << 25, 0, 0, *inner]  # x0[rel].x
    return inner


PROGRAM_CASES = {
    # opcodes and lengths
    "unknown opcode": (ps([0x010007FF]), r"unknown opcode 0x7ff"),
    "unknown opcode 0xff": (ps([0x010000FF]), r"unknown opcode 0xff"),
    "instruction length past the end": (
        container.build(program(*PS_HEAD, [MOV | 40 << 24, *reg(OUTPUT, 0), *src(INPUT, 0)]), PS_INPUTS, PS_OUTPUTS),
        r"runs past the end"),
    "instruction length 0": (ps([MOV, *reg(OUTPUT, 0), *src(INPUT, 0)]), r"length 0"),
    "instruction length shorter than its operands": (
        ps([MOV | 3 << 24, *reg(OUTPUT, 0), *src(INPUT, 0)]), r"mov"),
    "custom data length past the end": (ps([0x35 | 3 << 11, 0xFFFFFFFF, 1, 2, 3, 4]), r"runs past|custom data"),
    # operand indices out of range
    "r5 with dcl_temps 2": (ps(op(MOV, *reg(OUTPUT, 0), *src(TEMP, 5))), r"r5.*dcl_temps|temps.*r5"),
    "r5 written with dcl_temps 2": (ps(op(MOV, *reg(TEMP, 5), *src(INPUT, 0))), r"r5"),
    "r0 without dcl_temps": (ps(op(MOV, *reg(OUTPUT, 0), *src(TEMP, 0)), head=PS_HEAD[:2]), r"r0"),
    "cb3 never declared": (ps(op(MOV, *reg(OUTPUT, 0), *src(CB, 3, 0))), r"cb3"),
    "v40": (ps(op(MOV, *reg(OUTPUT, 0), *src(INPUT, 40))), r"v40|input register 40"),
    "x0 never declared": (ps(op(MOV, *reg(OUTPUT, 0), *src(INDEXABLE, 0, 0))), r"x0"),
    "t5 never declared": (
        ps(op(0x45, *reg(OUTPUT, 0), *src(INPUT, 0), *src(RESOURCE, 5), *reg(SAMPLER, 0, comps=0, sel=0))), r"t5"),
    "t1000000 declared": (ps(op(DCL_RESOURCE, *reg(RESOURCE, 1000000, comps=0, sel=0), 0x5555, controls=3)),
                          r"1000000"),
    "s99999 declared": (ps(op(DCL_SAMPLER, *reg(SAMPLER, 99999, comps=0, sel=0))), r"99999"),
    # found by the fuzz campaign (seed 11, input 12845): WGSL has no sampling of multisampled textures
    "sample on a texture2dms": (
        ps(op(DCL_RESOURCE, *reg(RESOURCE, 0, comps=0, sel=0), 0x5555, controls=4 | 4 << 5),
           op(DCL_SAMPLER, *reg(SAMPLER, 0, comps=0, sel=0)),
           op(0x45, *reg(OUTPUT, 0), *src(INPUT, 0), *src(RESOURCE, 0), *reg(SAMPLER, 0, comps=0, sel=0))),
        r"multisampl|2dms"),
    # absurd declarations
    "dcl_temps 1000000000": (ps(head=(*PS_HEAD[:2], op(DCL_TEMPS, 1000000000))), r"1000000000 temps"),
    "dcl_indexableTemp x0[1000000000]": (ps(op(DCL_INDEXABLE, 0, 1000000000, 4)), r"x0\[1000000000\]"),
    "dcl_indexableTemp x4000000000[4]": (ps(op(DCL_INDEXABLE, 4000000000, 4, 4)), r"x4000000000"),
    "dcl_constantbuffer cb0[1000000000]": (
        ps(op(DCL_CB, *reg(CB, 0, 1000000000, sel=0xE4, mode=1))), r"1000000000"),
    "dcl_thread_group 100000,1,1": (cs(head=(op(DCL_THREADS, 100000, 1, 1),)), r"thread group 100000x1x1"),
    "dcl_thread_group 0,0,0": (cs(head=(op(DCL_THREADS, 0, 0, 0),)), r"thread group 0x0x0"),
    "dcl_thread_group 2^31 squared": (cs(head=(op(DCL_THREADS, 1 << 31, 1 << 31, 1),)), r"thread group"),
    "tgsm_raw of 4 GiB": (cs(op(DCL_TGSM_RAW, *reg(TGSM, 0, comps=0, sel=0), 0xFFFFFFFC)),
                          r"4294967292 bytes of group-shared memory"),
    "tgsm_structured of 4 GiB": (cs(op(DCL_TGSM_STRUCTURED, *reg(TGSM, 0, comps=0, sel=0), 4, 0x40000000)),
                                 r"group-shared memory"),
    "compute without dcl_thread_group": (cs(head=()), r"dcl_thread_group"),
    # deep nesting
    "1000 nested ifs": (ps(*nested(1000, op(IF, *scalar(INPUT, 0), controls=IF_NZ), op(ENDIF))), r"nest"),
    "1000 nested loops": (ps(*nested(1000, op(LOOP), op(ENDLOOP))), r"nest"),
    "1000 nested switches": (ps(*[op(SWITCH, *scalar(INPUT, 0)), op(CASE, *imm(0))] * 1000,
                               *[op(BREAK), op(ENDSWITCH)] * 1000), r"nest"),
    # relative-index chains
    "relative chain 5 deep": (ps(op(DCL_INDEXABLE, 0, 4, 4), op(MOV, *reg(OUTPUT, 0), *relative_chain(5))),
                              r"nested too deeply"),
    "relative chain 40 deep": (ps(op(DCL_INDEXABLE, 0, 4, 4), op(MOV, *reg(OUTPUT, 0), *relative_chain(40))),
                               r"nested too deeply"),
    # unbalanced flow control
    "loop without endloop": (ps(op(LOOP)), r"loop"),
    "if without endif": (ps(op(IF, *scalar(INPUT, 0), controls=IF_NZ)), r"if"),
    "else without if": (ps(op(ELSE)), r"else"),
    "endif without if": (ps(op(ENDIF)), r"endif"),
    "endloop without loop": (ps(op(ENDLOOP)), r"endloop"),
    "two elses": (ps(op(IF, *scalar(INPUT, 0), controls=IF_NZ), op(ELSE), op(ELSE), op(ENDIF)), r"else"),
    "break outside a loop": (ps(op(BREAK)), r"break"),
    "case outside a switch": (ps(op(CASE, *imm(0))), r"case"),
    "endswitch without switch": (ps(op(ENDSWITCH)), r"endswitch"),
    "crossed if and loop": (ps(op(IF, *scalar(INPUT, 0), controls=IF_NZ), op(LOOP), op(ENDIF), op(ENDLOOP)),
                            r"endif|endloop"),
    "call to a missing label": (ps(op(CALL, *reg(LABEL, 7, comps=0, sel=0))), r"l7|label"),
}


@pytest.mark.parametrize("blob, words", PROGRAM_CASES.values(), ids=PROGRAM_CASES.keys())
def test_hostile_programs(blob, words):
    error = refused(blob)
    assert isinstance(error, ShaderInvalid | ShaderUnsupported)
    assert re.search(words, str(error), re.IGNORECASE), str(error)


OUT_OF_RANGE_CASES = {
    "cb0[9999] beyond cb0[4]": (
        ps(op(DCL_CB, *reg(CB, 0, 4, sel=0xE4, mode=1)), op(MOV, *reg(OUTPUT, 0), *src(CB, 0, 9999))),
        r"cb0\[9999\]|9999"),
    "x0[7] beyond x0[4]": (
        ps(op(DCL_INDEXABLE, 0, 4, 4), op(MOV, *reg(OUTPUT, 0), *src(INDEXABLE, 0, 7))), r"x0\[7\]"),
    "o9 written in a pixel shader": (ps(op(MOV, *reg(OUTPUT, 9), *src(INPUT, 0))), r"o9|output register 9"),
}


@pytest.mark.parametrize("blob, words", OUT_OF_RANGE_CASES.values(), ids=OUT_OF_RANGE_CASES.keys())
def test_constant_indices_past_a_declaration(blob, words):
    """fxc never writes these, and D3D11 defines out-of-range reads as 0 and writes as dropped:
    refused naming the register, or translated so that the read gives 0 and the write goes
    to no render target (the module reads o0 as 0 and has no @location(9) output)."""
    try:
        wgsl = translate.to_wgsl(translate.load(blob))
    except ShaderError as error:
        assert re.search(words, str(error)), str(error)
        return
    body = wgsl[wgsl.index("fn shader_main"):wgsl.index("struct PsIn")]
    assert "@location(9)" not in wgsl
    assert re.search(r"o0 = vec4<u32>\(\)|o0 = vec4<u32>\(0u?\)", body) or "o9" in body, body


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_short_relative_chains_translate_or_are_refused_cleanly(depth):
    """x0[x0[...[r0.x]]]: D3D11 allows a relative index inside a relative index; within the
    decoder's bound it is translated or refused, never a crash."""
    blob = ps(op(DCL_INDEXABLE, 0, 4, 4), op(MOV, *reg(TEMP, 0), *imm(1, 2, 3, 0)),
              op(MOV, *reg(OUTPUT, 0), *relative_chain(depth)))
    try:
        translate.to_wgsl(translate.load(blob))
    except ShaderError:
        pass


def test_recursion_is_refused():
    """label l0 calling l0: D3D11 forbids recursion; the writer must refuse, not recurse."""
    blob = ps(op(CALL, *reg(LABEL, 0, comps=0, sel=0)), op(RET),
              op(LABEL_OP, *reg(LABEL, 0, comps=0, sel=0)), op(CALL, *reg(LABEL, 0, comps=0, sel=0)))
    error = refused(blob)
    assert re.search(r"recurs", str(error), re.IGNORECASE), str(error)


# --- through the host ------------------------------------------------------------------------------------

DCL_INPUT, DCL_OUTPUT_SIV = 0x5F, 0x67
VS_INPUTS = (element("POSITION", 0),)
VS_OUTPUTS = (element("SV_Position", 0, ir.SystemValue.POSITION),)
PASS_VS = container.build(program(op(DCL_INPUT, *reg(INPUT, 0)), op(DCL_OUTPUT_SIV, *reg(OUTPUT, 0), 1),
                                  op(MOV, *reg(OUTPUT, 0), *src(INPUT, 0)), op(RET), kind=1),
                          VS_INPUTS, VS_OUTPUTS)
COLOUR = (1.0, 0.5, 0.25, 1.0)
COLOUR_PS = container.build(program(op(DCL_OUTPUT, *reg(OUTPUT, 0)),
                                    op(MOV, *reg(OUTPUT, 0), *imm(*struct.unpack("<4I", struct.pack("<4f", *COLOUR)))),
                                    op(RET)), (), PS_OUTPUTS)

HOST_CASES = {
    "truncated container": VALID_PS[:40],
    "wrong checksum": CONTAINER_CASES["wrong checksum"][0],
    "chunk offset past the end": CONTAINER_CASES["chunk offset past the end"][0],
    "unknown opcode": PROGRAM_CASES["unknown opcode"][0],
    "r5 with dcl_temps 2": PROGRAM_CASES["r5 with dcl_temps 2"][0],
    "dcl_temps 1000000000": PROGRAM_CASES["dcl_temps 1000000000"][0],
    "1000 nested ifs": PROGRAM_CASES["1000 nested ifs"][0],
    "loop without endloop": PROGRAM_CASES["loop without endloop"][0],
}


def test_hostile_blobs_through_the_host_are_errors_and_the_session_goes_on(host, device):
    """Each hostile blob given to create_pixel_shader is a host error naming DXBC (the
    translator's reason carried along); the same session then creates valid DXBC shaders and
    draws with them: the worker did not die."""
    from pvgpu import guest as g  # noqa: PLC0415
    from pvgpu.errors import HostReportedError  # noqa: PLC0415

    from conformance import guest as gh  # noqa: PLC0415
    np = pytest.importorskip("numpy")

    for name, blob in HOST_CASES.items():
        expected = str(refused(blob))
        device.create_pixel_shader(blob)
        with pytest.raises(HostReportedError) as e:
            device.connection.finish()
        text = str(e.value)
        assert "DXBC" in text and expected.split(" (at token")[0][:60] in text, f"{name}: {text}"

    ctx = device.get_immediate_context()
    vs = device.create_vertex_shader(PASS_VS)
    ps = device.create_pixel_shader(COLOUR_PS)
    layout = device.create_input_layout([g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32B32A32_FLOAT)], PASS_VS)
    quad = np.array([(-1, -1, 0.5, 1), (-1, 1, 0.5, 1), (0, 1, 0.5, 1),
                     (-1, -1, 0.5, 1), (0, 1, 0.5, 1), (0, -1, 0.5, 1)], np.float32)
    vb = device.create_buffer(g.BufferDesc(quad.nbytes, g.BindFlag.VERTEX_BUFFER), quad)
    chain, rtv = gh.swap_chain_target(device, 16, 16)
    ctx.om_set_render_targets([rtv])
    ctx.clear_render_target_view(rtv, (0, 0, 1, 1))
    ctx.ia_set_input_layout(layout)
    ctx.ia_set_vertex_buffers(0, [vb], [16])
    ctx.ia_set_primitive_topology(g.PrimitiveTopology.TRIANGLELIST)
    ctx.vs_set_shader(vs)
    ctx.ps_set_shader(ps)
    ctx.rs_set_viewports([g.Viewport(0, 0, 16, 16)])
    ctx.draw(6, 0)
    chain.present()
    frame = gh.presented(host, chain)
    assert (frame[:, :8] == (255, 128, 64, 255)).all(), frame[:, :8].reshape(-1, 4)[:4]
    assert (frame[:, 8:] == (0, 0, 255, 255)).all()


# --- cost: small blobs must not buy unbounded work ----------------------------------------------------

#: CPU seconds one blob may cost the translator (the fuzz campaign's limit; the slowest corpus blob
#: takes under 0.1 s).
CPU_LIMIT = 2.0
#: The largest WGSL a translation may produce: the host keeps nothing larger in its translation
#: cache (render/dxbc.py MAX_CACHED_SOURCE), and naga needs minutes for some 8 MB modules here.
#: The largest corpus translation is about 21 KB.
MAX_WGSL = 1 << 20


class CpuLimit(BaseException):
    pass


def _cpu_limit(signum, frame):
    raise CpuLimit()


def costly_blobs() -> dict[str, object]:
    add = op(ADD, *reg(TEMP, 0), *src(TEMP, 0), *src(TEMP, 1))

    def fallthrough(cases: int, body: int) -> list[list[int]]:
        out = [op(SWITCH, *scalar(INPUT, 0))]
        for i in range(cases):
            out += [op(CASE, *imm(i)), *[add] * body]
        return out + [op(BREAK), op(ENDSWITCH)]

    return {
        # ~800 KB (under the host's 1 MiB): the decoder alone took 6 s of CPU here
        "199000 nops": lambda: ps(*[op(0x3A)] * 199_000),
        # ~1 MB: 4.6 s to translate, 3 MB of WGSL, 36 s for wgpu to compile
        "37000 adds": lambda: ps(*[add] * 37_000),
        # 30 KB: case bodies copied for fallthrough: 2.8 s, 8.8 MB of WGSL, 215 s in create_shader_module
        "switch of 200 falling-through cases": lambda: ps(*fallthrough(200, 5)),
        # 26 KB: 50 nests of 64 loops: 1.9 MB of WGSL (500 nests: 19 MB)
        "50 nests of 64 loops": lambda: ps(*(nested(64, op(LOOP), op(ENDLOOP)) * 50)),
    }


@pytest.mark.parametrize("name", list(costly_blobs()))
def test_a_blob_cannot_buy_unbounded_translation_work(name):
    """Within CPU_LIMIT seconds and MAX_WGSL bytes of output, or refused (ShaderUnsupported
    naming the limit): a guest must not be able to make its worker translate or compile for
    minutes with one blob the host accepts (at most 1 MiB)."""
    blob = costly_blobs()[name]()
    assert len(blob) <= 1 << 20
    previous = signal.signal(signal.SIGPROF, _cpu_limit)
    start = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, CPU_LIMIT)
    try:
        wgsl = translate.to_wgsl(translate.load(blob))
    except ShaderError:
        wgsl = ""
    except CpuLimit:
        pytest.fail(f"{name}: more than {CPU_LIMIT} s of CPU in the translator ({len(blob)}-byte blob)")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    elapsed = time.process_time() - start
    size = len(wgsl)
    assert size <= MAX_WGSL, f"{name}: {len(blob)}-byte blob gave {size} bytes of WGSL in {elapsed:.1f} s"


def test_hostile_bytecode_for_an_input_layout_is_a_host_error(device):
    """create_input_layout reads the VS bytecode's input signature: hostile bytecode there is a
    host error too, and the session goes on."""
    from pvgpu import guest as g  # noqa: PLC0415
    from pvgpu.errors import HostReportedError  # noqa: PLC0415
    elements = [g.InputElementDesc("POSITION", 0, g.DxgiFormat.R32G32B32A32_FLOAT)]
    isgn = chunk_offset(PASS_VS, b"ISGN")
    bad_name = patched(PASS_VS, isgn + 16, "<I", 0xFFFF)  # element 0's semantic name offset
    for blob in (VALID_PS[:40], CONTAINER_CASES["wrong checksum"][0], bad_name):
        device.create_input_layout(elements, blob)
        with pytest.raises(HostReportedError):
            device.connection.finish()
    device.create_input_layout(elements, PASS_VS)
    device.connection.finish()
