"""The DXBC container: the real corpora parse and match fxc's signature listings, build()
round-trips, the checksum is DXBC's, and hostile containers get ShaderInvalid, never another
exception.

Corpus tests read ../shared/dxbc (or $PVGPU_DXBC_CORPUS) and skip, saying so, where it is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvgpu.shaders import checksum as dxbc_checksum
from pvgpu.shaders import container, ir
from pvgpu.shaders.errors import ShaderError, ShaderInvalid, ShaderUnsupported

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("PVGPU_DXBC_CORPUS", REPO.parent / "shared" / "dxbc"))
ROOT_SIGNATURE_MESSAGE = "no shader program chunk (SHDR/SHEX): a root signature or effect?"


def corpus(name: str) -> tuple[list[dict], Path]:
    folder = CORPUS / name
    if not (folder / "index.json").is_file():
        pytest.skip(f"the DXBC corpus is absent ({folder}); these tests read ../shared/dxbc/{name}")
    return json.loads((folder / "index.json").read_text())["shaders"], folder


def corpus_blob(name: str, file: str) -> bytes:
    _, folder = corpus(name)
    return (folder / file).read_bytes()


# --- small blobs built here, so that the bad-input tests need no corpus ----------------------

def element(name, index, register, mask=0b1111, rw=0b1111, sv=ir.SystemValue.UNDEFINED,
            ctype=ir.ComponentType.FLOAT32, **extra):
    return ir.SignatureElement(name, index, sv, ctype, register, mask, rw, **extra)


# ps_4_0: mov o0, v1 ; ret
PS_TOKENS = struct.pack("<8I", 0x00000040, 8, 0x05000036, 0x001020F2, 0, 0x00101E46, 1, 0x0100003E)
PS_INPUTS = (element("SV_Position", 0, 0, sv=ir.SystemValue.POSITION, rw=0),
             element("COLOR", 0, 1, rw=0b1111))
PS_OUTPUTS = (element("SV_Target", 0, 0, sv=ir.SystemValue.TARGET, rw=0),)


def small_blob() -> bytes:
    return container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS)


def chunk_places(blob: bytes) -> dict[str, int]:
    """fourcc -> offset of its chunk header."""
    (count,) = struct.unpack_from("<I", blob, 28)
    offsets = struct.unpack_from(f"<{count}I", blob, 32)
    return {blob[o:o + 4].decode("latin-1"): o for o in offsets}


def patched(blob: bytes, offset: int, fmt: str, *values) -> bytes:
    """`blob` with `values` written at `offset`, re-checksummed so that the checksum passes."""
    data = bytearray(blob)
    struct.pack_into(fmt, data, offset, *values)
    return container.with_checksum(bytes(data))


def refused(blob: bytes, *words: str) -> str:
    with pytest.raises(ShaderInvalid) as caught:
        container.parse(blob)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


# --- the corpora -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["directxtk", "vkd3d-d3d12"])
def test_every_corpus_blob_parses_or_is_a_root_signature(name):
    shaders, folder = corpus(name)
    parsed = refused_root = 0
    problems = []
    for entry in shaders:
        blob = (folder / entry["dxbc_file"] if "dxbc_file" in entry else folder / f"{entry['id']}.dxbc").read_bytes()
        chunks = tuple(entry["chunks"])
        if not {"SHDR", "SHEX"} & set(chunks):
            with pytest.raises(ShaderInvalid) as caught:
                container.parse(blob)
            assert ROOT_SIGNATURE_MESSAGE in str(caught.value)
            assert caught.value.offset is None
            refused_root += 1
            continue
        shader = container.parse(blob)
        parsed += 1
        profile = f"{shader.program_type.prefix}_{shader.major}_{shader.minor}"
        if not entry["profile"].startswith(profile) or shader.chunks != chunks:
            problems.append((entry["id"], profile, shader.chunks, entry["profile"], chunks))
        assert shader.tokens == blob[chunk_places(blob)[
            "SHEX" if "SHEX" in chunks else "SHDR"] + 8:][:len(shader.tokens)]
        assert struct.unpack_from("<I", shader.tokens, 4)[0] * 4 == len(shader.tokens)
        assert all(e.semantic_name for e in shader.inputs + shader.outputs + shader.patch_constants)
    assert problems == []
    expected = {"directxtk": (173, 0), "vkd3d-d3d12": (303, 24)}[name]
    assert (parsed, refused_root) == expected


def test_vkd3d_signature_forms_and_feature_flags():
    shaders, folder = corpus("vkd3d-d3d12")
    streams = patch_constants = flags = 0
    for entry in shaders:
        chunks = entry["chunks"]
        if not {"SHDR", "SHEX"} & set(chunks):
            continue
        shader = container.parse((folder / entry["dxbc_file"]).read_bytes())
        if "OSG5" in chunks:
            assert shader.program_type == ir.ProgramType.GEOMETRY and shader.outputs
            streams += 1
        if "PCSG" in chunks:
            assert shader.program_type in (ir.ProgramType.HULL, ir.ProgramType.DOMAIN)
            assert shader.patch_constants
            assert {e.system_value for e in shader.patch_constants} & {
                ir.SystemValue.FINAL_TRI_EDGE_TESSFACTOR, ir.SystemValue.FINAL_QUAD_EDGE_TESSFACTOR,
                ir.SystemValue.FINAL_LINE_DETAIL_TESSFACTOR}
            patch_constants += 1
        if "SFI0" in chunks:
            assert shader.feature_flags != 0
            flags += 1
        else:
            assert shader.feature_flags == 0
    assert (streams, patch_constants, flags) == (2, 29, 22)


# fxc's SysValue and Format columns
LISTING_SYSTEM_VALUES = {
    "NONE": ir.SystemValue.UNDEFINED, "POS": ir.SystemValue.POSITION, "TARGET": ir.SystemValue.TARGET,
    "VERTID": ir.SystemValue.VERTEX_ID, "INSTID": ir.SystemValue.INSTANCE_ID, "PRIMID": ir.SystemValue.PRIMITIVE_ID,
    "FFACE": ir.SystemValue.IS_FRONT_FACE, "SAMPLE": ir.SystemValue.SAMPLE_INDEX, "DEPTH": ir.SystemValue.DEPTH,
    "COVERAGE": ir.SystemValue.COVERAGE, "CLIPDST": ir.SystemValue.CLIP_DISTANCE,
    "CULLDST": ir.SystemValue.CULL_DISTANCE, "RTINDEX": ir.SystemValue.RENDER_TARGET_ARRAY_INDEX,
    "VPINDEX": ir.SystemValue.VIEWPORT_ARRAY_INDEX,
}
LISTING_FORMATS = {"float": ir.ComponentType.FLOAT32, "uint": ir.ComponentType.UINT32,
                   "int": ir.ComponentType.SINT32}


def listing_mask(text: str) -> int:
    return sum(1 << i for i, c in enumerate("xyzw") if c in text)


def listing_signature(asm: str, title: str) -> list[tuple]:
    """The rows of fxc's `// Name Index Mask Register SysValue Format Used` table, cut at the
    columns its dashed line marks (masks are positional: "   w")."""
    found = re.search(title + r" signature:\n\n(.*?)\n\n", asm, re.S)
    assert found, f"no {title} signature table"
    lines = found.group(1).split("\n")
    assert lines[0].split() == ["Name", "Index", "Mask", "Register", "SysValue", "Format", "Used"]
    columns = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[1])]
    rows = []
    for line in lines[2:]:
        if "no Input" in line or "no Output" in line or not line.strip():
            continue
        name, index, mask, register, system_value, fmt, used = (line[a:b].strip() for a, b in columns)
        rows.append((name, int(index), listing_mask(mask), -1 if register == "N/A" else int(register),
                     LISTING_SYSTEM_VALUES[system_value], LISTING_FORMATS[fmt], listing_mask(used)))
    return rows


def signature_rows(elements, output: bool) -> list[tuple]:
    """Our elements in the listing's terms: the listing's "Used" of an output is the mask of
    components always written, the complement of the chunk's never-written byte."""
    return [(e.semantic_name, e.semantic_index, e.mask, -1 if e.register == 0xFFFFFFFF else e.register,
             e.system_value, e.component_type, e.mask & ~e.rw_mask if output else e.rw_mask) for e in elements]


def test_directxtk_signatures_equal_fxc_listing():
    shaders, folder = corpus("directxtk")
    compared = 0
    for entry in shaders:
        asm = (folder / f"{entry['id']}.asm").read_text()
        shader = container.parse((folder / f"{entry['id']}.dxbc").read_bytes())
        assert signature_rows(shader.inputs, False) == listing_signature(asm, "Input"), entry["id"]
        assert signature_rows(shader.outputs, True) == listing_signature(asm, "Output"), entry["id"]
        compared += len(shader.inputs) + len(shader.outputs)
    assert len(shaders) == 173 and compared > 1000


@pytest.mark.parametrize("name", ["directxtk", "vkd3d-d3d12"])
def test_corpus_round_trip_through_build(name):
    shaders, folder = corpus(name)
    identical = 0
    for entry in shaders:
        if not {"SHDR", "SHEX"} & set(entry["chunks"]):
            continue
        blob = (folder / f"{entry['id']}.dxbc").read_bytes()
        shader = container.parse(blob)
        rebuilt = container.build(shader.tokens, shader.inputs, shader.outputs, shader.patch_constants)
        assert rebuilt[4:20] == container.checksum(rebuilt)
        again = container.parse(rebuilt)
        assert (again.program_type, again.major, again.minor, again.tokens) == \
            (shader.program_type, shader.major, shader.minor, shader.tokens)
        assert (again.inputs, again.outputs, again.patch_constants) == \
            (shader.inputs, shader.outputs, shader.patch_constants)
        identical += rebuilt == blob
    # ISGN/OSGN/SHDR blobs come back byte for byte (fxc's layout, names and 0xAB padding)
    assert identical >= {"directxtk": 52, "vkd3d-d3d12": 250}[name]


# --- the checksum --------------------------------------------------------------------------

def md5_with_standard_padding(data: bytes, compress) -> bytes:
    padded = data + b"\x80" + bytes(-(len(data) + 9) % 64) + struct.pack("<Q", len(data) * 8)
    return struct.pack("<4I", *compress(dxbc_checksum._IV, padded, 0, len(padded)))


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000])
def test_md5_cores_are_md5(size):
    data = bytes((i * 7 + size) & 0xFF for i in range(size))
    expected = hashlib.md5(data).digest()
    assert md5_with_standard_padding(data, dxbc_checksum._compress_python) == expected
    assert md5_with_standard_padding(data, dxbc_checksum._compressor()) == expected


@pytest.mark.parametrize("size", [0, 3, 51, 52, 55, 56, 60, 63, 64, 100, 119, 120, 127, 128])
def test_both_cores_give_the_same_dxbc_checksum(size):
    data = bytes((i * 13 + 5) & 0xFF for i in range(size))
    assert dxbc_checksum.digest(data, dxbc_checksum._compress_python) == \
        dxbc_checksum.digest(data, dxbc_checksum._compressor())


def test_checksum_of_a_known_blob():
    blob = corpus_blob("vkd3d-d3d12", "vs_code__0.dxbc")
    assert container.checksum(blob) == blob[4:20]
    assert container.with_checksum(blob[:4] + bytes(16) + blob[20:]) == blob
    with_short_tail = small_blob()
    assert container.checksum(with_short_tail) == with_short_tail[4:20]


def test_checksum_is_fast():
    data = b"DXBC" + bytes(16) + bytes(range(256)) * 400
    best = min(_timed(lambda: container.checksum(data)) for _ in range(5))
    assert best < 0.010, f"{best * 1e3:.1f} ms for a 100 KiB blob"


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def test_checksum_refuses_a_blob_shorter_than_its_field():
    with pytest.raises(ShaderInvalid, match="shorter"):
        container.checksum(b"DXBC1234")


# --- build and write_signature ---------------------------------------------------------------

def test_small_blob_layout():
    blob = small_blob()
    shader = container.parse(blob)
    assert shader.chunks == ("ISGN", "OSGN", "SHDR")
    assert (shader.program_type, shader.major, shader.minor, shader.tokens) == (ir.ProgramType.PIXEL, 4, 0, PS_TOKENS)
    assert shader.inputs == PS_INPUTS and shader.outputs == PS_OUTPUTS
    assert struct.unpack_from("<I", blob, 24)[0] == len(blob)
    assert container.parse(bytearray(blob)) == shader == container.parse(memoryview(blob))
    assert container.parse(memoryview(blob).cast("I")) == shader


def test_sm5_geometry_writes_osg5_with_streams():
    gs_tokens = struct.pack("<3I", 0x00020050, 3, 0x0100003E)
    outputs = (element("SV_Position", 0, 0, sv=ir.SystemValue.POSITION, rw=0, stream=0),
               element("TEXCOORD", 0, 1, mask=0b0011, rw=0b1100, stream=2))
    shader = container.parse(container.build(gs_tokens, (), outputs))
    assert shader.chunks == ("ISGN", "OSG5", "SHEX")
    assert shader.outputs == outputs and shader.program_type == ir.ProgramType.GEOMETRY


def test_min_precision_uses_the_1_forms():
    vs_tokens = struct.pack("<3I", 0x00010050, 3, 0x0100003E)
    inputs = (element("POSITION", 0, 0, min_precision=1),)
    outputs = (element("TEXCOORD", 3, 0, mask=0b0111, rw=0, min_precision=5),)
    patch = (element("SV_TessFactor", 0, 0, mask=1, rw=0, sv=ir.SystemValue.FINAL_LINE_DETAIL_TESSFACTOR,
                     min_precision=1),)
    shader = container.parse(container.build(vs_tokens, inputs, outputs, patch))
    assert shader.chunks == ("ISG1", "OSG1", "PSG1", "SHEX")
    assert (shader.inputs, shader.outputs, shader.patch_constants) == (inputs, outputs, patch)


def test_write_signature_shares_names_and_pads_like_fxc():
    body = container.write_signature("ISGN", (element("TEXCOORD", 0, 0), element("TEXCOORD", 1, 1)))
    assert body.count(b"TEXCOORD\0") == 1
    assert len(body) % 4 == 0 and body.endswith(b"\xab" * (len(body) - (8 + 48 + 9)))
    assert container.parse_signature("ISGN", memoryview(body)) == (element("TEXCOORD", 0, 0), element("TEXCOORD", 1, 1))


@pytest.mark.parametrize("fourcc, elements, words", [
    ("XSGN", (), "not a signature chunk"),
    ("ISGN", (element("TEXCOORD", 0, 0, stream=1),), "no stream field"),
    ("OSG5", (element("TEXCOORD", 0, 0, min_precision=1),), "no min-precision field"),
    ("ISGN", (element("TÉX", 0, 0),), "not ASCII"),
    ("ISGN", (element("A", 0, 1 << 40),), "element A0"),
])
def test_write_signature_refuses_what_it_cannot_write(fourcc, elements, words):
    with pytest.raises(ShaderInvalid, match=words):
        container.write_signature(fourcc, elements)


def test_extra_chunks_sfi0_stat_and_unknown_ones():
    stat = struct.pack("<4I", 9, 1, 2, 3)
    blob = container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS,
                           extra_chunks=[("SFI0", struct.pack("<Q", 0x1_0000_0002)), ("STAT", stat), ("Aon9", b"xyz")])
    shader = container.parse(blob)
    assert shader.feature_flags == 0x1_0000_0002
    assert shader.stats == (9, 1, 2, 3)
    assert shader.chunks == ("ISGN", "OSGN", "SHDR", "SFI0", "STAT", "Aon9")


def rdef_body(bindings, target, creator=b"pvgpu test compiler", binding_size=32, tag=b"RD11") -> bytes:
    header_size = 28 + (32 if (target >> 8) & 0xFF >= 5 else 0)
    strings = bytearray()
    name_offsets = []
    table_size = len(bindings) * binding_size
    for name, *_ in bindings:
        name_offsets.append(header_size + table_size + len(strings))
        strings += name + b"\0"
    creator_offset = header_size + table_size + len(strings)
    strings += creator + b"\0"
    out = bytearray(struct.pack("<7I", 0, 0, len(bindings), header_size, target, 0, creator_offset))
    if header_size > 28:
        out += tag + struct.pack("<7I", 60, 24, binding_size, 40, 36, 12, 0)
    for (name, *values), offset in zip(bindings, name_offsets):
        out += struct.pack("<8I", offset, *values[:7])
        if binding_size == 40:
            out += struct.pack("<2I", values[7], 0)
    return bytes(out + strings)


@pytest.mark.parametrize("target, size, tag", [(0xFFFF0400, 32, b""), (0xFFFF0500, 32, b"RD11"),
                                                (0xFFFF0501, 40, b"\x13\x13\x44\x25")])
def test_rdef_binding_table(target, size, tag):
    bindings = [(b"g_texture", 2, 5, 4, 0xFFFFFFFF, 3, 1, 12, 0), (b"Constants", 0, 0, 0, 0, 0, 1, 0, 2)]
    body = rdef_body(bindings, target, binding_size=size, tag=tag)
    shader = container.parse(container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS, extra_chunks=[("RDEF", body)]))
    assert shader.creator == "pvgpu test compiler"
    space = (lambda s: s) if size == 40 else (lambda s: 0)
    assert shader.resources == (
        ir.ResourceBinding("g_texture", 2, 5, 4, 0xFFFFFFFF, 3, 1, 12, space(0)),
        ir.ResourceBinding("Constants", 0, 0, 0, 0, 0, 1, 0, space(2)))


@pytest.mark.parametrize("mutate, words", [
    (lambda b: b[:28] + struct.pack("<I", 0xFFFF) + b[32:], "binding 0 name: string offset 65535 outside"),
    (lambda b: b[:24] + struct.pack("<I", 0xFFFF) + b[28:], "creator: string offset 65535 outside"),
    (lambda b: b[:12] + struct.pack("<I", 0xFFFF) + b[16:], "at offset 65535 do not fit"),
    (lambda b: b[:8] + struct.pack("<I", 5000) + b[12:], "5000 resource bindings"),
    (lambda b: b[:8] + struct.pack("<I", 20) + b[12:], "do not fit"),
    (lambda b: b[:20], "shorter than its 28-byte header"),
])
def test_rdef_bad_offsets_and_counts(mutate, words):
    body = rdef_body([(b"t0", 2, 5, 4, 1, 0, 1, 0, 0)], 0xFFFF0400)
    refused(container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS, extra_chunks=[("RDEF", mutate(body))]), "RDEF", words)


def test_rdef_creator_without_nul():
    creator = b"c"
    while len(rdef_body([], 0xFFFF0400, creator=creator)) % 4:
        creator += b"c"
    body = rdef_body([], 0xFFFF0400, creator=creator)
    refused(container.build(PS_TOKENS, extra_chunks=[("RDEF", body[:-1] + b"X")]), "RDEF creator", "no NUL")
    assert container.parse(container.build(PS_TOKENS, extra_chunks=[("RDEF", body)])).creator == creator.decode()


def test_rdef_sm5_header_checks():
    body = rdef_body([(b"t0", 2, 5, 4, 1, 0, 1, 0, 0)], 0xFFFF0500, tag=b"XXXX")
    refused(container.build(PS_TOKENS, extra_chunks=[("RDEF", body)]), "unknown header tag")
    body = rdef_body([(b"t0", 2, 5, 4, 1, 0, 1, 0, 0)], 0xFFFF0500, binding_size=36)
    refused(container.build(PS_TOKENS, extra_chunks=[("RDEF", body)]), "binding size 36")


# --- bad input ---------------------------------------------------------------------------------

def test_truncated_at_every_length():
    blob = small_blob()
    for length in range(len(blob)):
        refused(blob[:length])


def test_truncated_at_every_length_with_size_and_checksum_repaired():
    """Past the checksum and size checks, every cut still lands on a bounds check."""
    blob = small_blob()
    for length in range(container.HEADER_SIZE, len(blob)):
        cut = bytearray(blob[:length])
        struct.pack_into("<I", cut, 24, length)
        refused(container.with_checksum(bytes(cut)))


def test_a_flipped_byte_anywhere_is_caught():
    blob = small_blob()
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            broken = bytearray(blob)
            broken[position] ^= bit
            if position < 4:
                refused(bytes(broken), "not a DXBC container")
            else:
                refused(bytes(broken), "checksum mismatch")


@pytest.mark.parametrize("count, words", [(0, "chunk count 0"), (65, "chunk count 65"),
                                          (0xFFFFFFFF, "chunk count 4294967295"),
                                          (60, "chunk table of 60 entries runs past")])
def test_absurd_chunk_counts(count, words):
    refused(patched(small_blob(), 28, "<I", count), words)


def test_header_fields():
    blob = small_blob()
    refused(patched(blob, 20, "<I", 2), "container version 2")
    refused(patched(blob, 24, "<I", len(blob) + 4), f"header says {len(blob) + 4} bytes")
    refused(container.with_checksum(blob + bytes(4)), "header says")
    refused(b"DXBD" + blob[4:], "magic b'DXBD'")


@pytest.mark.parametrize("value, words", [
    (8, "offset 8 is not a 4-byte aligned place"),       # into the header
    (36, "offset 36 is not a 4-byte aligned place"),     # into the chunk table
    (1 << 20, "is not a 4-byte aligned place"),          # past the end
    (0xFFFFFFF8, "is not a 4-byte aligned place"),
    (46, "offset 46 is not a 4-byte aligned place"),     # unaligned
])
def test_chunk_offsets_out_of_range(value, words):
    refused(patched(small_blob(), 32 + 4, "<I", value), "chunk 1", words)


def test_chunk_sizes_out_of_range_and_overlaps():
    blob = small_blob()
    places = chunk_places(blob)
    refused(patched(blob, places["SHDR"] + 4, "<I", 0xFFFFFFF0), "'SHDR'", "run past")
    refused(patched(blob, places["ISGN"] + 4, "<I", len(blob)), "'ISGN'", "run past")
    refused(patched(blob, places["ISGN"] + 4, "<I", places["OSGN"] - places["ISGN"]), "overlap")
    refused(patched(blob, 32 + 8, "<I", places["ISGN"]), "overlap")  # two table entries, one chunk


def test_signature_name_offset_outside_and_counts_too_large():
    blob = small_blob()
    isgn = chunk_places(blob)["ISGN"] + 8
    refused(patched(blob, isgn + 8, "<I", 0x7FFFFFFF), "ISGN element 0 semantic name", "outside")
    refused(patched(blob, isgn + 24 + 8, "<I", 0xFFFFFFFF), "ISGN element 1 semantic name", "outside")
    refused(patched(blob, isgn, "<I", 129), "129 elements (at most 128)")
    refused(patched(blob, isgn, "<I", 0xFFFFFFFF), "4294967295 elements")
    refused(patched(blob, isgn, "<I", 3), "3 elements of 24 bytes", "do not fit")
    refused(patched(blob, isgn + 4, "<I", 0xFFFFFFF0), "do not fit")
    refused(patched(blob, isgn + 4, "<I", 2), "do not fit")


def test_signature_names_must_end_and_be_ascii():
    blob = small_blob()
    isgn = chunk_places(blob)["ISGN"] + 8
    size = struct.unpack_from("<I", blob, isgn - 4)[0]
    name = isgn + 8 + 2 * 24  # "SV_Position\0COLOR\0" then padding
    no_nul = bytearray(blob)
    no_nul[name:isgn + size] = b"A" * (isgn + size - name)
    refused(container.with_checksum(bytes(no_nul)), "ISGN element 0 semantic name", "no NUL")
    refused(patched(blob, name, "<B", 0xC3), "not ASCII")


@pytest.mark.parametrize("field, value, words", [
    (8, 99, "unknown SystemValue 99"),
    (12, 7, "unknown ComponentType 7"),
    (20, 0x1F, "bits above w"),
    (21, 0x10, "bits above w"),
])
def test_signature_enums_and_masks(field, value, words):
    blob = small_blob()
    isgn = chunk_places(blob)["ISGN"] + 8
    refused(patched(blob, isgn + 8 + 24 + field, "<B" if field > 16 else "<I", value), "ISGN element 1", words)


def test_osg5_stream_bound():
    gs_tokens = struct.pack("<3I", 0x00020050, 3, 0x0100003E)
    blob = container.build(gs_tokens, (), (element("A", 0, 0, stream=3),))
    osg5 = chunk_places(blob)["OSG5"] + 8
    refused(patched(blob, osg5 + 8, "<I", 4), "stream 4")


def test_program_chunk_checks():
    blob = small_blob()
    shdr = chunk_places(blob)["SHDR"] + 8
    refused(patched(blob, shdr + 4, "<I", 9), "length token says 9 dwords, the chunk holds 8")
    refused(patched(blob, shdr + 4, "<I", 1), "length token says 1")
    refused(patched(blob, shdr, "<I", 0x00060040), "unknown program type 6")
    with pytest.raises(ShaderUnsupported, match="shader model 3.0"):
        container.parse(patched(blob, shdr, "<I", 0x00000030))
    # a shorter length token is honoured: the tokens end where it says
    assert container.parse(patched(blob, shdr + 4, "<I", 7)).tokens == PS_TOKENS[:4] + b"\7\0\0\0" + PS_TOKENS[8:28]
    refused(container.build(struct.pack("<2I", 0x40, 2), extra_chunks=[("SHEX", struct.pack("<2I", 0x50, 2))]),
            "two program chunks (SHDR and SHEX)")
    refused(container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS, extra_chunks=[("ISG1", b"")]), "two inputs signatures")
    refused(container.assemble_chunks([("SHDR", b"\x40\0\0\0")]), "shorter than its version")
    refused(container.build(PS_TOKENS, extra_chunks=[("SFI0", b"\0\0\0\0")]), "SFI0", "its feature flags take 8")


def test_no_program_chunk():
    refused(container.assemble_chunks([("RTS0", bytes(24))]), ROOT_SIGNATURE_MESSAGE, "RTS0")
    with pytest.raises(ShaderUnsupported, match="DXIL"):
        container.parse(container.assemble_chunks([("DXIL", bytes(24)), ("ISG1", struct.pack("<2I", 0, 8))]))


def test_empty_blob():
    refused(b"", "0 bytes")


# --- fuzz --------------------------------------------------------------------------------------

def fuzz_seeds() -> list[bytes]:
    seeds = [small_blob()]
    folder = CORPUS / "vkd3d-d3d12"
    for name in ("vs_code__0.dxbc", "cs_with_rs__0.dxbc", "ds_code__0.dxbc"):
        if (folder / name).is_file():
            seeds.append((folder / name).read_bytes())
    rdef = rdef_body([(b"t0", 2, 5, 4, 1, 0, 1, 0, 0)], 0xFFFF0500)
    seeds.append(container.build(PS_TOKENS, PS_INPUTS, PS_OUTPUTS, extra_chunks=[("RDEF", rdef),
                                                                                 ("SFI0", bytes(8))]))
    return seeds


SEEDS = fuzz_seeds()


@st.composite
def mutated_blobs(draw):
    blob = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["byte", "word", "cut", "insert"]))
        position = draw(st.integers(0, len(blob) - 1)) if blob else 0
        if kind == "byte" and blob:
            blob[position] = draw(st.integers(0, 255))
        elif kind == "word" and len(blob) >= 4:
            position -= position % 4
            position = min(position, len(blob) - 4)
            value = draw(st.sampled_from([0, 1, 2, 3, 8, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, len(blob),
                                          len(blob) - 4, len(blob) + 4]))
            struct.pack_into("<I", blob, position, value & 0xFFFFFFFF)
        elif kind == "cut":
            del blob[position:position + draw(st.integers(1, 64))]
        else:
            blob[position:position] = draw(st.binary(min_size=1, max_size=16))
    if len(blob) >= 28 and draw(st.integers(0, 9)):
        # mostly a header that passes, so that the mutations reach the chunks
        blob[:4] = b"DXBC"
        struct.pack_into("<II", blob, 20, 1, len(blob))
    return container.with_checksum(bytes(blob)) if len(blob) >= 20 else bytes(blob)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_blobs())
def test_fuzz_only_shader_errors_escape(blob):
    try:
        shader = container.parse(blob)
    except ShaderError:
        return
    assert struct.unpack_from("<I", shader.tokens, 4)[0] * 4 == len(shader.tokens)
