"""The DXBC container: a header (magic, checksum, version, total size, chunk table) and
four-character-code chunks. `parse` checks every count, offset and string of a hostile blob
and returns an `ir.ShaderBlob`; `build` writes a container for the assembler.

Layout, all little-endian:

    0  "DXBC"   4  checksum (16 bytes)   20  version = 1   24  total size   28  chunk count
    32 chunk offsets (u32 each), then the chunks: fourcc, body size, body

Signature chunks (ISGN/OSGN/PCSG and their OSG5 / *1 forms) hold a count, the offset of the
element array (8), the elements, and the semantic names they point at (offsets from the
start of the chunk body).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from . import ir
from .checksum import HEADER_SKIP, checksum, with_checksum
from .errors import ShaderInvalid, ShaderUnsupported

__all__ = ["parse", "build", "write_signature", "assemble_chunks", "parse_signature", "parse_resources",
           "checksum", "with_checksum", "MAX_CHUNKS", "MAX_SIGNATURE_ELEMENTS"]

MAGIC = b"DXBC"
HEADER_SIZE = 32
CONTAINER_VERSION = 1
MAX_CHUNKS = 64
#: 32 registers of 4 components each, the most any D3D11 signature can describe.
MAX_SIGNATURE_ELEMENTS = 128
#: Longest string (semantic, resource or creator name) looked for, NUL excluded.
MAX_STRING = 1024
MAX_RESOURCE_BINDINGS = 4096
PROGRAM_CHUNKS = ("SHDR", "SHEX")
#: Shader models a DXBC program chunk can carry (5.1 is Direct3D 12's; the decoder decides).
SHADER_MODELS = ((4, 0), (4, 1), (5, 0), (5, 1))


@dataclass(frozen=True)
class _SignatureLayout:
    role: str  # the ShaderBlob field it fills
    element_size: int
    has_stream: bool
    has_min_precision: bool


SIGNATURE_LAYOUTS: dict[str, _SignatureLayout] = {
    "ISGN": _SignatureLayout("inputs", 24, False, False),
    "ISG1": _SignatureLayout("inputs", 32, True, True),
    "OSGN": _SignatureLayout("outputs", 24, False, False),
    "OSG5": _SignatureLayout("outputs", 28, True, False),
    "OSG1": _SignatureLayout("outputs", 32, True, True),
    "PCSG": _SignatureLayout("patch_constants", 24, False, False),
    "PSG1": _SignatureLayout("patch_constants", 32, True, True),
}

_U32 = struct.Struct("<I")
_HEADER = struct.Struct("<4s16sIII")
_CHUNK_HEADER = struct.Struct("<4sI")
_ELEMENT = struct.Struct("<5I4B")  # name offset, index, system value, type, register, mask, rw mask, 2 pad
_RDEF_HEADER = struct.Struct("<7I")
_BINDING = struct.Struct("<8I")
_RD11_TAGS = (b"RD11", b"\x13\x13\x44\x25")
#: fxc writes 0 as the system value of these pixel-shader outputs; the name says which they are.
PIXEL_OUTPUT_SYSTEM_VALUES = {
    "SV_TARGET": ir.SystemValue.TARGET, "SV_DEPTH": ir.SystemValue.DEPTH,
    "SV_DEPTHGREATEREQUAL": ir.SystemValue.DEPTH_GREATER_EQUAL, "SV_DEPTHLESSEQUAL": ir.SystemValue.DEPTH_LESS_EQUAL,
    "SV_COVERAGE": ir.SystemValue.COVERAGE, "SV_STENCILREF": ir.SystemValue.STENCIL_REF,
}


def _fourcc_text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _string(body: memoryview, offset: int, what: str) -> str:
    """A NUL-terminated ASCII string at `offset` in a chunk body."""
    if offset >= len(body):
        raise ShaderInvalid(f"{what}: string offset {offset} outside its {len(body)}-byte chunk")
    raw = bytes(body[offset:offset + MAX_STRING + 1])
    end = raw.find(b"\0")
    if end < 0:
        limit = "its chunk's end" if len(raw) <= MAX_STRING else f"{MAX_STRING} bytes"
        raise ShaderInvalid(f"{what}: string at offset {offset} has no NUL before {limit}")
    try:
        return raw[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ShaderInvalid(f"{what}: string at offset {offset} is not ASCII") from None


def _enum(kind, value: int, what: str):
    try:
        return kind(value)
    except ValueError:
        raise ShaderInvalid(f"{what}: unknown {kind.__name__} {value}") from None


# --- signatures -------------------------------------------------------------------------


def parse_signature(fourcc: str, body: memoryview) -> tuple[ir.SignatureElement, ...]:
    """The elements of one signature chunk (`body` excludes the 8-byte chunk header)."""
    layout = SIGNATURE_LAYOUTS[fourcc]
    if len(body) < 8:
        raise ShaderInvalid(f"{fourcc}: {len(body)}-byte chunk, shorter than its 8-byte header")
    count, first = struct.unpack_from("<II", body, 0)
    if count > MAX_SIGNATURE_ELEMENTS:
        raise ShaderInvalid(f"{fourcc}: {count} elements (at most {MAX_SIGNATURE_ELEMENTS})")
    if first < 8 or first % 4 or first + count * layout.element_size > len(body):
        raise ShaderInvalid(f"{fourcc}: {count} elements of {layout.element_size} bytes at offset {first} "
                            f"do not fit its {len(body)}-byte chunk")
    elements = []
    for number in range(count):
        position = first + number * layout.element_size
        what = f"{fourcc} element {number}"
        stream = 0
        if layout.has_stream:
            (stream,) = _U32.unpack_from(body, position)
            position += 4
        name_offset, index, system_value, component_type, register, mask, rw_mask, _, _ = \
            _ELEMENT.unpack_from(body, position)
        min_precision = _U32.unpack_from(body, position + _ELEMENT.size)[0] if layout.has_min_precision else 0
        if mask > 0xF or rw_mask > 0xF:
            raise ShaderInvalid(f"{what}: component mask {mask:#x}/{rw_mask:#x} has bits above w")
        if stream > 3:
            raise ShaderInvalid(f"{what}: stream {stream} (at most 3)")
        elements.append(ir.SignatureElement(
            semantic_name=_string(body, name_offset, f"{what} semantic name"),
            semantic_index=index,
            system_value=_enum(ir.SystemValue, system_value, what),
            component_type=_enum(ir.ComponentType, component_type, what),
            register=register, mask=mask, rw_mask=rw_mask, stream=stream, min_precision=min_precision))
    return tuple(elements)


def write_signature(fourcc: str, elements: Iterable[ir.SignatureElement]) -> bytes:
    """A signature chunk body in `fourcc`'s layout (names after the elements, each once,
    padded to 4 bytes with 0xAB as fxc does)."""
    if fourcc not in SIGNATURE_LAYOUTS:
        raise ShaderInvalid(f"{fourcc!r} is not a signature chunk (one of {', '.join(SIGNATURE_LAYOUTS)})")
    layout = SIGNATURE_LAYOUTS[fourcc]
    elements = tuple(elements)
    if len(elements) > MAX_SIGNATURE_ELEMENTS:
        raise ShaderInvalid(f"{fourcc}: {len(elements)} elements (at most {MAX_SIGNATURE_ELEMENTS})")
    names: dict[str, int] = {}
    strings = bytearray()
    table_end = 8 + len(elements) * layout.element_size
    for element in elements:
        if element.semantic_name not in names:
            try:
                encoded = element.semantic_name.encode("ascii")
            except UnicodeEncodeError:
                raise ShaderInvalid(f"{fourcc}: semantic name {element.semantic_name!r} is not ASCII") from None
            if b"\0" in encoded or len(encoded) > MAX_STRING:
                raise ShaderInvalid(f"{fourcc}: semantic name {element.semantic_name!r} has a NUL or is too long")
            names[element.semantic_name] = table_end + len(strings)
            strings += encoded + b"\0"
    out = bytearray(struct.pack("<II", len(elements), 8))
    for element in elements:
        if element.stream and not layout.has_stream:
            raise ShaderInvalid(f"{fourcc} has no stream field ({element.semantic_name} is on stream {element.stream})")
        if element.min_precision and not layout.has_min_precision:
            raise ShaderInvalid(f"{fourcc} has no min-precision field ({element.semantic_name})")
        try:
            if layout.has_stream:
                out += _U32.pack(element.stream)
            out += _ELEMENT.pack(names[element.semantic_name], element.semantic_index, int(element.system_value),
                                 int(element.component_type), element.register, element.mask, element.rw_mask, 0, 0)
            if layout.has_min_precision:
                out += _U32.pack(element.min_precision)
        except struct.error as error:
            raise ShaderInvalid(f"{fourcc}: element {element.semantic_name}{element.semantic_index}: {error}") from None
    out += strings
    out += b"\xab" * (-len(out) % 4)
    return bytes(out)


# --- other chunks ------------------------------------------------------------------------


def parse_resources(body: memoryview) -> tuple[tuple[ir.ResourceBinding, ...], str]:
    """The resource binding table and creator string of an RDEF chunk (constant-buffer
    variable layouts are not read: the program's declarations carry what pvgpu needs)."""
    if len(body) < _RDEF_HEADER.size:
        raise ShaderInvalid(f"RDEF: {len(body)}-byte chunk, shorter than its {_RDEF_HEADER.size}-byte header")
    _, _, count, first, target, _, creator_offset = _RDEF_HEADER.unpack_from(body, 0)
    binding_size = _BINDING.size
    if (target >> 8) & 0xFF >= 5:
        if len(body) < _RDEF_HEADER.size + 16:
            raise ShaderInvalid("RDEF: shader model 5 header (RD11) cut short")
        tag = bytes(body[_RDEF_HEADER.size:_RDEF_HEADER.size + 4])
        if tag not in _RD11_TAGS:
            raise ShaderInvalid(f"RDEF: unknown header tag {tag!r} (expected RD11)")
        (binding_size,) = _U32.unpack_from(body, _RDEF_HEADER.size + 12)
        if binding_size not in (32, 40):
            raise ShaderInvalid(f"RDEF: resource binding size {binding_size} (32 or 40)")
    if count > MAX_RESOURCE_BINDINGS:
        raise ShaderInvalid(f"RDEF: {count} resource bindings (at most {MAX_RESOURCE_BINDINGS})")
    if first + count * binding_size > len(body):
        raise ShaderInvalid(f"RDEF: {count} bindings of {binding_size} bytes at offset {first} "
                            f"do not fit its {len(body)}-byte chunk")
    bindings = []
    for number in range(count):
        position = first + number * binding_size
        name_offset, input_type, return_type, dimension, samples, point, bind_count, flags = \
            _BINDING.unpack_from(body, position)
        space = _U32.unpack_from(body, position + 32)[0] if binding_size == 40 else 0
        bindings.append(ir.ResourceBinding(
            name=_string(body, name_offset, f"RDEF binding {number} name"), input_type=input_type,
            return_type=return_type, dimension=dimension, sample_count=samples, bind_point=point,
            bind_count=bind_count, flags=flags, space=space))
    creator = _string(body, creator_offset, "RDEF creator") if creator_offset else ""
    return tuple(bindings), creator


def _parse_program(fourcc: str, body: memoryview) -> tuple[ir.ProgramType, int, int, bytes]:
    if len(body) < 8:
        raise ShaderInvalid(f"{fourcc}: {len(body)}-byte chunk, shorter than its version and length tokens")
    version, length = struct.unpack_from("<II", body, 0)
    if length < 2 or length * 4 > len(body):
        raise ShaderInvalid(f"{fourcc}: length token says {length} dwords, the chunk holds {len(body) // 4}")
    kind = version >> 16
    if kind > max(ir.ProgramType):
        raise ShaderInvalid(f"{fourcc}: unknown program type {kind} in version token {version:#010x}")
    major, minor = (version >> 4) & 0xF, version & 0xF
    if (major, minor) not in SHADER_MODELS:
        raise ShaderUnsupported(f"{fourcc}: shader model {major}.{minor} (DXBC carries 4.0, 4.1, 5.0 and 5.1)")
    return ir.ProgramType(kind), major, minor, bytes(body[:length * 4])


# --- the container ----------------------------------------------------------------------


def _chunk_table(blob: memoryview) -> list[tuple[str, int, int]]:
    """(fourcc, body start, body size) of each chunk, in table order, every bound checked."""
    _, _, version, total, count = _HEADER.unpack_from(blob, 0)
    if version != CONTAINER_VERSION:
        raise ShaderInvalid(f"DXBC container version {version} (only {CONTAINER_VERSION} exists)")
    if total != len(blob):
        raise ShaderInvalid(f"DXBC header says {total} bytes, the blob has {len(blob)}")
    if count == 0 or count > MAX_CHUNKS:
        raise ShaderInvalid(f"DXBC chunk count {count} (1 to {MAX_CHUNKS})")
    table_end = HEADER_SIZE + 4 * count
    if table_end > len(blob):
        raise ShaderInvalid(f"DXBC chunk table of {count} entries runs past the {len(blob)}-byte blob")
    chunks = []
    for number, (offset,) in enumerate(struct.iter_unpack("<I", blob[HEADER_SIZE:table_end])):
        if offset < table_end or offset % 4 or offset + _CHUNK_HEADER.size > len(blob):
            raise ShaderInvalid(f"DXBC chunk {number}: offset {offset} is not a 4-byte aligned place "
                                f"between the chunk table (ends at {table_end}) and the blob's end ({len(blob)})")
        raw, size = _CHUNK_HEADER.unpack_from(blob, offset)
        start = offset + _CHUNK_HEADER.size
        if size > len(blob) - start:
            raise ShaderInvalid(f"DXBC chunk {number} ({_fourcc_text(raw)!r}): {size} bytes at offset {start} "
                                f"run past the {len(blob)}-byte blob")
        chunks.append((_fourcc_text(raw), start, size))
    placed = sorted((start - _CHUNK_HEADER.size, start + size, fourcc) for fourcc, start, size in chunks)
    for (_, end, fourcc), (next_start, _, next_fourcc) in zip(placed, placed[1:]):
        if next_start < end:
            raise ShaderInvalid(f"DXBC chunks {fourcc!r} and {next_fourcc!r} overlap (at byte {next_start})")
    return chunks


def parse(blob: bytes | bytearray | memoryview) -> ir.ShaderBlob:
    """Check and read a DXBC container. Raises ShaderInvalid (or ShaderUnsupported for a
    program Direct3D 11 cannot run) naming the chunk and offset at fault.

    A pixel shader's SV_Target/SV_Depth/SV_Coverage/SV_StencilRef outputs, which fxc stores
    with system value 0, get their D3D_NAME (TARGET, DEPTH, ...) here, as fxc's listing shows."""
    view = memoryview(blob if isinstance(blob, bytes) else bytes(blob))
    if len(view) < HEADER_SIZE:
        raise ShaderInvalid(f"DXBC blob of {len(view)} bytes: shorter than its {HEADER_SIZE}-byte header")
    if bytes(view[:4]) != MAGIC:
        raise ShaderInvalid(f"not a DXBC container: magic {bytes(view[:4])!r}, expected {MAGIC!r}")
    stored = bytes(view[4:HEADER_SKIP])
    if checksum(view) != stored:
        raise ShaderInvalid(f"DXBC checksum mismatch: the header holds {stored.hex()}, "
                            f"the content gives {checksum(view).hex()}")
    chunks = _chunk_table(view)
    fields: dict[str, object] = {}
    program = None
    for fourcc, start, size in chunks:
        body = view[start:start + size]
        if fourcc in PROGRAM_CHUNKS:
            if program is not None:
                raise ShaderInvalid(f"DXBC has two program chunks ({program[0]} and {fourcc})")
            program = (fourcc, *_parse_program(fourcc, body))
        elif fourcc in SIGNATURE_LAYOUTS:
            role = SIGNATURE_LAYOUTS[fourcc].role
            if role in fields:
                raise ShaderInvalid(f"DXBC has two {role.replace('_', ' ')} signatures (the second is {fourcc})")
            fields[role] = parse_signature(fourcc, body)
        elif fourcc == "RDEF":
            if "resources" in fields:
                raise ShaderInvalid("DXBC has two RDEF chunks")
            fields["resources"], fields["creator"] = parse_resources(body)
        elif fourcc == "SFI0":
            if size < 8:
                raise ShaderInvalid(f"SFI0: {size}-byte chunk, its feature flags take 8")
            fields["feature_flags"] = struct.unpack_from("<Q", body, 0)[0]
        elif fourcc == "STAT":
            fields["stats"] = tuple(value for (value,) in struct.iter_unpack("<I", body[:size - size % 4]))
    names = tuple(fourcc for fourcc, _, _ in chunks)
    if program is None:
        if "DXIL" in names:
            raise ShaderUnsupported("DXIL program (shader model 6): only DXBC (SHDR/SHEX) is translated")
        raise ShaderInvalid("no shader program chunk (SHDR/SHEX): a root signature or effect? "
                            f"(chunks: {', '.join(names) or 'none'})")
    _, program_type, major, minor, tokens = program
    if program_type == ir.ProgramType.PIXEL and "outputs" in fields:
        fields["outputs"] = tuple(_named_pixel_output(element) for element in fields["outputs"])
    return ir.ShaderBlob(program_type=program_type, major=major, minor=minor, tokens=tokens,
                         chunks=names, **fields)


def _named_pixel_output(element: ir.SignatureElement) -> ir.SignatureElement:
    if element.system_value != ir.SystemValue.UNDEFINED:
        return element
    named = PIXEL_OUTPUT_SYSTEM_VALUES.get(element.semantic_name.upper())
    return replace(element, system_value=named) if named is not None else element


def _signature_fourcc(role: str, elements: Sequence[ir.SignatureElement], geometry_sm5: bool) -> str:
    plain, stream_form, precision_form = {
        "inputs": ("ISGN", "ISG1", "ISG1"),
        "outputs": ("OSGN", "OSG5", "OSG1"),
        "patch_constants": ("PCSG", "PSG1", "PSG1"),
    }[role]
    if any(element.min_precision for element in elements):
        return precision_form
    if geometry_sm5 and role == "outputs" or any(element.stream for element in elements):
        return stream_form
    return plain


def build(program_tokens: bytes, inputs: Sequence[ir.SignatureElement] = (),
          outputs: Sequence[ir.SignatureElement] = (), patch_constants: Sequence[ir.SignatureElement] = (), *,
          extra_chunks: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A valid container: ISGN, OSGN (OSG5 for an SM5 geometry shader, the *1 forms where an
    element has a min precision), PCSG when there are patch constants, SHDR (SM4) or SHEX
    (SM5), then `extra_chunks` as given; the checksum computed. Pixel-shader outputs are
    written with system value 0 where fxc writes 0 (see `parse`)."""
    tokens = bytes(program_tokens)
    if len(tokens) < 8 or len(tokens) % 4:
        raise ShaderInvalid(f"program of {len(tokens)} bytes: needs whole dwords, version and length first")
    version = _U32.unpack_from(tokens, 0)[0]
    major, kind = (version >> 4) & 0xF, version >> 16
    geometry_sm5 = kind == ir.ProgramType.GEOMETRY and major >= 5
    if kind == ir.ProgramType.PIXEL:
        outputs = tuple(replace(element, system_value=ir.SystemValue.UNDEFINED)
                        if element.system_value in PIXEL_OUTPUT_SYSTEM_VALUES.values() else element
                        for element in outputs)
    chunks: list[tuple[str, bytes]] = []
    for role, elements in (("inputs", inputs), ("outputs", outputs), ("patch_constants", patch_constants)):
        elements = tuple(elements)
        if role == "patch_constants" and not elements:
            continue
        fourcc = _signature_fourcc(role, elements, geometry_sm5)
        chunks.append((fourcc, write_signature(fourcc, elements)))
    chunks.append(("SHEX" if major >= 5 else "SHDR", tokens))
    chunks.extend((fourcc, bytes(body)) for fourcc, body in extra_chunks)
    return assemble_chunks(chunks)


def assemble_chunks(chunks: Sequence[tuple[str, bytes]]) -> bytes:
    """A container of exactly these chunks (bodies padded to 4 bytes), checksummed."""
    if not 0 < len(chunks) <= MAX_CHUNKS:
        raise ShaderInvalid(f"DXBC chunk count {len(chunks)} (1 to {MAX_CHUNKS})")
    offset = HEADER_SIZE + 4 * len(chunks)
    offsets, parts = [], []
    for fourcc, body in chunks:
        raw = fourcc.encode("latin-1")
        if len(raw) != 4:
            raise ShaderInvalid(f"chunk name {fourcc!r} is not four characters")
        body = bytes(body) + b"\0" * (-len(body) % 4)
        offsets.append(offset)
        parts.append(_CHUNK_HEADER.pack(raw, len(body)) + body)
        offset += _CHUNK_HEADER.size + len(body)
    header = _HEADER.pack(MAGIC, bytes(16), CONTAINER_VERSION, offset, len(chunks))
    return with_checksum(header + struct.pack(f"<{len(offsets)}I", *offsets) + b"".join(parts))
