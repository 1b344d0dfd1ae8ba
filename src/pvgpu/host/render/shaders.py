"""WGSL shader intake: compile the module and find the bindings it declares.

Under the binding convention (docs/protocol.md) a binding number alone says what kind of
slot it is; the declaration after it says what the shader expects there (a buffer or a
texture), which the renderer needs to bind a stand-in where the guest left a slot empty.
A declaration that does not fit its slot kind (a texture in a constant-buffer slot, a
read-only buffer in an unordered-access slot) is refused here, with the slot named.
"""

from __future__ import annotations

import re

import wgpu

from ...protocol.bindings import slot_for
from ...protocol.enums import ErrorCode, ShaderStage
from ..errors import CommandError, invalid, unsupported
from .objects import Shader

_ATTR = r"@(group|binding)\s*\(\s*(\d{1,6})\s*\)"
#: `@group(g) @binding(b) var<space, access> name: type` (either attribute order).
_DECL = re.compile(_ATTR + r"\s*" + _ATTR +
                   r"\s*var\s*(?:<\s*(\w+)\s*(?:,\s*(\w+)\s*)?>)?\s*(\w+)\s*:\s*(\w+)(?:\s*<([^>]*)>)?")
_ENTRY = {ShaderStage.VERTEX: ("@vertex", re.compile(r"@vertex\b")),
          ShaderStage.PIXEL: ("@fragment", re.compile(r"@fragment\b")),
          ShaderStage.COMPUTE: ("@compute", re.compile(r"@compute\b"))}
MAX_SHADER_BYTES = 1 << 20

#: The categories of declaration, and which each slot kind may hold.
_UNIFORM, _STORAGE_READ, _STORAGE_RW, _TEXTURE, _STORAGE_TEXTURE, _SAMPLER = (
    "uniform", "storage-read", "storage-read-write", "texture", "storage-texture", "sampler")
_ALLOWED = {
    "constant_buffer": {_UNIFORM},
    "sampler": {_SAMPLER},
    "shader_resource": {_TEXTURE, _STORAGE_READ},
    "unordered_access": {_STORAGE_RW, _STORAGE_TEXTURE},
    "uav_counter": {_STORAGE_RW},  # the hidden counter of UAV slot n: a read_write atomic<u32>
}


def declared_kind(space: str | None, access: str | None, type_name: str, params: str | None) -> str:
    """What a declaration needs bound: "uniform", "storage-read", "storage-read-write",
    "sampler", "sampler-comparison", "texture:<view dimension>:<f32|u32|i32|depth>" or
    "storage-texture:<view dimension>:<format>" (nulls.py makes a stand-in for each)."""
    if space == "uniform":
        return _UNIFORM
    if space == "storage":
        return _STORAGE_RW if access == "read_write" else _STORAGE_READ
    if type_name == "sampler_comparison":
        return "sampler-comparison"
    if type_name == "sampler":
        return _SAMPLER
    if type_name.startswith("texture_storage_"):
        dim = type_name.removeprefix("texture_storage_").replace("_", "-")
        return f"{_STORAGE_TEXTURE}:{dim}:{(params or '').split(',')[0].strip()}"
    if type_name.startswith("texture_depth_"):
        return f"{_TEXTURE}:{type_name.removeprefix('texture_depth_').replace('_', '-')}:depth"
    if type_name.startswith("texture_"):
        return f"{_TEXTURE}:{type_name.removeprefix('texture_').replace('_', '-')}:{(params or 'f32').strip()}"
    return f"var<{space or ''}> of type {type_name}"


def declared_bindings(source: str, stage: ShaderStage) -> dict[int, str]:
    """binding number -> what it is declared as (`declared_kind`), for every binding the module declares."""
    out: dict[int, str] = {}
    for m in _DECL.finditer(source):
        attrs = {m.group(1): int(m.group(2)), m.group(3): int(m.group(4))}
        if "group" not in attrs or "binding" not in attrs:
            continue
        if attrs["group"] != int(stage):
            raise invalid(f"{stage.name} shader declares @group({attrs['group']}); "
                          f"{stage.name} resources live in @group({int(stage)})")
        binding = attrs["binding"]
        try:
            kind, slot = slot_for(binding)
        except ValueError as e:
            raise invalid(f"{stage.name} shader: {e}") from None
        declared = declared_kind(m.group(5), m.group(6), m.group(8), m.group(9))
        category = _SAMPLER if declared.startswith(_SAMPLER) else declared.split(":")[0]
        if category not in _ALLOWED[kind]:
            raise invalid(f"{stage.name} shader: @binding({binding}) is {kind.replace('_', ' ')} slot {slot}, "
                          f"which holds a {' or '.join(sorted(_ALLOWED[kind]))}, not a {declared}")
        if kind in ("unordered_access", "uav_counter") and stage != ShaderStage.COMPUTE:
            raise unsupported(f"{stage.name} shader: unordered-access views are offered to compute shaders only")
        if len(re.findall(rf"\b{m.group(7)}\b", source)) > 1:
            out[binding] = declared
        # else: declared, never used: wgpu's derived layout leaves it out, and so does the binding
    return out


def compile_wgsl(device: wgpu.GPUDevice, code: bytes, stage: ShaderStage) -> Shader:
    if len(code) > MAX_SHADER_BYTES:
        raise CommandError(ErrorCode.COUNT_LIMIT, f"shader of {len(code)} bytes exceeds {MAX_SHADER_BYTES}")
    try:
        source = code.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid(f"WGSL source is not UTF-8 ({e.reason} at byte {e.start})") from None
    source = source.rstrip("\0")
    attribute, pattern = _ENTRY[stage]
    entries = len(pattern.findall(source))
    if entries != 1:
        raise invalid(f"a {stage.name.lower()} shader needs exactly one {attribute} entry point, found {entries}")
    bindings = declared_bindings(source, stage)
    try:
        module = device.create_shader_module(code=source)
    except wgpu.GPUError as e:
        first = str(e).strip().splitlines()
        raise CommandError(ErrorCode.HOST_GPU_ERROR, "WGSL: " + " ".join(first)[:400]) from None
    slots = tuple((b, *slot_for(b), bindings[b]) for b in sorted(bindings))
    shader = Shader(stage, module, frozenset(bindings), bindings, slots)
    entries = layout_entries(source, stage, slots)
    if entries is not None:
        try:
            shader.bind_group_layout = device.create_bind_group_layout(entries=entries)
        except wgpu.GPUError:
            shader.bind_group_layout = None  # the pipeline derives its layout ("auto") instead
    return shader


_VISIBILITY = {ShaderStage.VERTEX: wgpu.ShaderStage.VERTEX, ShaderStage.PIXEL: wgpu.ShaderStage.FRAGMENT,
               ShaderStage.COMPUTE: wgpu.ShaderStage.COMPUTE}
_SAMPLE_TYPES = {"f32": "float", "u32": "uint", "i32": "sint", "depth": "depth"}
_STORAGE_ACCESS = {"write": "write-only", "read": "read-only", "read_write": "read-write"}
#: the texture and sampler arguments of a sampling call (textureGather may lead with a component)
_SAMPLING = re.compile(r"\b(textureSample\w*|textureGather\w*)\s*\(\s*([^,()]+?)\s*,\s*(\w+)\s*,\s*(\w+)?")


_VAR_TYPE = re.compile(r"var\s*<\s*(uniform|storage)\s*(?:,\s*\w+\s*)?>\s*(\w+)\s*:\s*([^;=]+?)\s*;")
_STRUCT = re.compile(r"\bstruct\s+(\w+)\s*\{([^{}]*)\}")
_SCALARS = {"f32": 4, "i32": 4, "u32": 4}
_VEC_ALIASES = {f"vec{n}{c}": f"vec{n}<{t}>" for n in (2, 3, 4) for c, t in (("f", "f32"), ("i", "i32"), ("u", "u32"))}


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _round(n: int, k: int) -> int:
    return -(-n // k) * k


def type_layout(t: str, structs: dict, uniform: bool, depth: int = 0) -> tuple[int, int]:
    """(size, alignment) of a WGSL host-shareable type in the uniform or storage address space
    (a runtime-sized array counts one element: wgpu's minimum binding size). Raises ValueError
    for what this does not know (f16, @size/@align, constant-expression counts)."""
    t = _VEC_ALIASES.get(t.strip(), t.strip())
    if depth > 16:
        raise ValueError("nested too deep")
    if t in _SCALARS:
        return 4, 4
    m = re.fullmatch(r"atomic\s*<\s*(i32|u32)\s*>", t)
    if m:
        return 4, 4
    m = re.fullmatch(r"vec([234])\s*<\s*(f32|i32|u32)\s*>", t)
    if m:
        n = int(m.group(1))
        return 4 * n, 16 if n >= 3 else 8
    m = re.fullmatch(r"mat([234])x([234])\s*<\s*f32\s*>", t) or re.fullmatch(r"mat([234])x([234])f", t)
    if m:
        c, r = int(m.group(1)), int(m.group(2))
        col_align = 16 if r >= 3 else 8
        return c * _round(4 * r, col_align), col_align
    m = re.fullmatch(r"array\s*<(.*)>", t, re.S)
    if m:
        args = _split_args(m.group(1))
        size, align = type_layout(args[0], structs, uniform, depth + 1)
        stride = _round(size, align)
        if len(args) == 1:
            count = 1  # runtime-sized: the minimum binding holds one element
        else:
            count = int(args[1].rstrip("iu"))
        if uniform:
            align = _round(align, 16)
        return count * stride, align
    if t in structs:
        body = structs[t]
        if "@" in body:
            raise ValueError("member attributes")
        offset, align = 0, 1
        for name, mtype in re.findall(r"(\w+)\s*:\s*((?:[^,<]|<[^<>]*(?:<[^<>]*>[^<>]*)*>)+)", body):
            size, a = type_layout(mtype, structs, uniform, depth + 1)
            if uniform and mtype.strip() in structs:
                a = _round(a, 16)
            offset = _round(offset, a) + size
            align = max(align, a)
        if uniform:
            align = _round(align, 16)
        return _round(offset, align), align
    raise ValueError(f"type {t}")


def layout_entries(source: str, stage: ShaderStage, slots: tuple) -> list | None:
    """The bind group layout entries of the stage's group, as wgpu would derive them
    (layout="auto") except that uniform buffers take dynamic offsets (the renderer's uniform
    ring). An f32 texture is filterable where the module samples or gathers it with a
    sampler, as wgpu's derivation decides; None where that cannot be read off the source
    (a texture passed to a function, a declaration this does not know): "auto" then."""
    names = {}
    for m in _DECL.finditer(source):
        attrs = {m.group(1): int(m.group(2)), m.group(3): int(m.group(4))}
        if "binding" in attrs:
            names[attrs["binding"]] = (m.group(7), m.group(9))
    texture_names = {names[b][0] for b, _, _, d in slots if d.startswith("texture:") and b in names}
    filtered = set()
    for m in _SAMPLING.finditer(source):
        fn, a, b, c = m.groups()
        tex = b if fn.startswith("textureGather") and a not in texture_names else a
        if tex not in texture_names:
            return None
        if "Compare" not in fn:
            filtered.add(tex)
    structs = dict(_STRUCT.findall(source))
    sizes = {}
    for space, name, type_text in _VAR_TYPE.findall(source):
        try:
            sizes[name] = type_layout(type_text, structs, space == "uniform")[0]
        except (ValueError, RecursionError):
            sizes[name] = None
    vis = _VISIBILITY[stage]
    entries = []
    for binding, _kind, _slot, declared in slots:
        if binding not in names:
            return None
        name, params = names[binding]
        e = {"binding": binding, "visibility": vis}
        if declared in ("uniform", "storage-read", "storage-read-write"):
            size = sizes.get(name)
            if not size:
                return None  # wgpu's derivation knows the minimum binding size; this does not
            e["buffer"] = {"type": {"uniform": "uniform", "storage-read": "read-only-storage"}.get(declared, "storage"),
                           "has_dynamic_offset": declared == "uniform", "min_binding_size": size}
        elif declared == "sampler":
            e["sampler"] = {"type": "filtering"}
        elif declared == "sampler-comparison":
            e["sampler"] = {"type": "comparison"}
        else:
            what, dim, detail = (declared.split(":") + ["", ""])[:3]
            if what == "texture" and detail in _SAMPLE_TYPES:
                multi = dim == "multisampled-2d"
                sample = _SAMPLE_TYPES[detail]
                if sample == "float" and (multi or name not in filtered):
                    sample = "unfilterable-float"
                e["texture"] = {"sample_type": sample, "view_dimension": "2d" if multi else dim,
                                "multisampled": multi}
            elif what == "storage-texture":
                access = (params or "").split(",")[1].strip() if "," in (params or "") else ""
                if access not in _STORAGE_ACCESS:
                    return None
                e["storage_texture"] = {"access": _STORAGE_ACCESS[access], "format": detail, "view_dimension": dim}
            else:
                return None
        entries.append(e)
    return entries
