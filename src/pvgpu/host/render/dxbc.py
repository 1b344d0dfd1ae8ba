"""DXBC shader intake: blobs translated by `pvgpu.shaders`, input layouts matched by
semantic, and the specialization a draw or dispatch needs, read off what is bound.

A DXBC shader object holds no wgpu module of its own: WGSL fixes at compile time what D3D11
leaves to bind time (a texture's depth-ness, a typed UAV's format, a constant buffer's bound
size, the input layout's types, the other stage's varyings), so each distinct
`Specialization` gets its own translated and compiled variant, kept on the object. The pipeline
cache key carries the specializations, so a pipeline is reused only for the same variants.

Translations are pure functions of (blob, specialization) and are cached by content: in
this process (`TRANSLATIONS`), and, because each session has a worker process of its own, in
the service's folder on tmpfs (`use_cache_dir`), so one translation serves every session of a
service. Only host-written WGSL is stored there, under the hash of what it was made from.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import wgpu

from ...protocol.enums import ShaderStage
from ...shaders import container, translate
from ...shaders.errors import ShaderError, ShaderUnsupported
from ...shaders.ir import ProgramType, SystemValue
from ...shaders.specialization import DEFAULT, Specialization
from ..errors import CommandError, invalid, unsupported
from .objects import BufferView, Shader, next_serial

MAX_DXBC_BYTES = 1 << 20
MAX_CACHE_FILES = 2048  # translations shared through the service's tmpfs folder
MAX_CACHE_BYTES = 64 << 20  # ... and their total size
MAX_CACHED_SOURCE = 1 << 20
MAX_VARIANTS = 32  # per shader object; a guest cycling through more starts the set over
_STAGE_PROGRAM = {ShaderStage.VERTEX: ProgramType.VERTEX, ShaderStage.PIXEL: ProgramType.PIXEL,
                  ShaderStage.COMPUTE: ProgramType.COMPUTE}


class _LruCache:
    """A bounded mapping with least-recently-used eviction."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


#: sha-256 of a blob -> translate.DxbcShader (parsed, decoded, checked)
LOADED = _LruCache(256)
#: (sha-256, Specialization) -> WGSL source
TRANSLATIONS = _LruCache(1024)


def _command_error(e: ShaderError) -> CommandError:
    return unsupported(f"DXBC: {e}") if isinstance(e, ShaderUnsupported) else invalid(f"DXBC: {e}")


def load(code: bytes) -> tuple[bytes, translate.DxbcShader]:
    """(content digest, the loaded shader) of a DXBC blob, refusing what pvgpu cannot run."""
    if len(code) > MAX_DXBC_BYTES:
        raise invalid(f"DXBC blob of {len(code)} bytes exceeds {MAX_DXBC_BYTES}")
    digest = hashlib.sha256(code).digest()
    shader = LOADED.get(digest)
    if shader is None:
        try:
            shader = translate.load(code)
        except ShaderError as e:
            raise _command_error(e) from None
        LOADED.put(digest, shader)
    return digest, shader


_cache_dir: str | None = None


def use_cache_dir(path: str | None) -> None:
    """Share translations through files in `path` (created if missing); None: this process only."""
    global _cache_dir
    if path is not None:
        os.makedirs(path, exist_ok=True)
    _cache_dir = path


def _cache_file(digest: bytes, spec: Specialization) -> str | None:
    if _cache_dir is None:
        return None
    canonical = replace(spec, features=tuple(sorted(spec.features)))  # set order differs between processes
    name = hashlib.sha256(digest + repr(canonical).encode()).hexdigest()
    return os.path.join(_cache_dir, name + ".wgsl")


def wgsl_for(digest: bytes, shader: translate.DxbcShader, spec: Specialization) -> tuple[str, bool]:
    """(WGSL, whether it is fresh: made here rather than found in a cache). A fresh translation
    is shared (`share`) only once wgpu has accepted it."""
    key = (digest, spec)
    source = TRANSLATIONS.get(key)
    if source is not None:
        return source, False
    path = _cache_file(digest, spec)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        except OSError:
            source = None
    fresh = source is None
    if fresh:
        try:
            source = translate.to_wgsl(shader, spec)
        except ShaderError as e:
            raise _command_error(e) from None
    TRANSLATIONS.put(key, source)
    return source, fresh


def share(digest: bytes, spec: Specialization, source: str) -> None:
    """Offer a compiled translation to the service's other sessions (see _store)."""
    path = _cache_file(digest, spec)
    if path is not None:
        _store(path, source)


def _store(path: str, source: str) -> None:
    """Write atomically (another worker may be reading). The folder is bounded: at most
    MAX_CACHE_FILES files and MAX_CACHE_BYTES in all (a guest sending endless distinct blobs
    fills it once, then only loses the sharing); a full tmpfs only costs the sharing too."""
    folder = os.path.dirname(path)
    try:
        if len(source) > MAX_CACHED_SOURCE:
            return
        entries = list(os.scandir(folder))
        if len(entries) >= MAX_CACHE_FILES or sum(e.stat().st_size for e in entries) + len(source) > MAX_CACHE_BYTES:
            return
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


@dataclass(eq=False)
class DxbcProgram:
    """The host object behind a guest's DXBC shader id."""

    stage: ShaderStage
    digest: bytes
    source: translate.DxbcShader
    variants: dict = field(default_factory=dict)  # Specialization -> Shader (compiled module, bindings)
    links: dict = field(default_factory=dict)  # other stage's serial -> (vs varyings, ps varyings)
    specs: dict = field(default_factory=dict)  # (static spec, what is bound) -> Specialization
    serial: int = field(default_factory=next_serial)

    def variant(self, device: wgpu.GPUDevice, spec: Specialization, compile_wgsl) -> Shader:
        hit = self.variants.get(spec)
        if hit is None:
            source, fresh = wgsl_for(self.digest, self.source, spec)
            try:
                hit = compile_wgsl(device, source.encode(), self.stage)
            except CommandError as e:
                raise CommandError(e.code, f"DXBC {self.stage.name.lower()} shader, translated: {e.detail}") from None
            if fresh:
                share(self.digest, spec, source)
            if len(self.variants) >= MAX_VARIANTS:
                self.variants.clear()
            self.variants[spec] = hit
        return hit


#: wgpu features a translation may use where the host device has them (Specialization.features)
SHADER_FEATURES = frozenset({"clip-distances", "primitive-index", "texture-atomic", "shader-early-depth-test",
                             "shader-f64", "shader-int64"})


def base_specialization(device_features) -> Specialization:
    """What every specialization on a device with `device_features` starts from."""
    features = SHADER_FEATURES & frozenset(device_features)
    return Specialization(features=features) if features else DEFAULT


def create_program(code, stage: ShaderStage, device: wgpu.GPUDevice, compile_wgsl,
                   base: Specialization = DEFAULT) -> DxbcProgram:
    """A DXBC shader object for `stage`; its variant for `base` (the device's features, nothing
    bound) is compiled now, so that a blob wgpu refuses is reported at creation, as D3D11
    reports a bad blob."""
    if code is None:
        raise invalid("shader code is empty")
    digest, shader = load(bytes(code))
    if shader.stage != _STAGE_PROGRAM[stage]:
        raise invalid(f"the DXBC blob is a {shader.stage.name.lower()} shader ({shader.program.profile}), "
                      f"not a {stage.name.lower()} shader")
    program = DxbcProgram(stage, digest, shader)
    program.variant(device, base, compile_wgsl)
    return program


def parse_semantic_names(raw, count: int) -> list[str]:
    """The `count` NUL-terminated names of CREATE_INPUT_LAYOUT's `semantic_names` range."""
    data = bytes(raw) if raw is not None else b""
    parts = data.split(b"\0")
    if len(parts) < count + 1 and not (len(parts) == count and parts[-1]):
        raise invalid(f"semantic_names holds {max(len(parts) - 1, 0)} NUL-terminated names; the layout has "
                      f"{count} elements")
    names = []
    for i, p in enumerate(parts[:count]):
        if not p or len(p) > 63 or not p.isascii() or not all(32 < c < 127 for c in p):
            raise invalid(f"element {i}: semantic name {p[:64]!r} is not 1-63 printable ASCII characters")
        names.append(p.decode("ascii"))
    return names


def vertex_signature(bytecode) -> tuple:
    """The user inputs of a DXBC vertex shader: ((NAME, index, position in signature), ...)."""
    try:
        blob = container.parse(bytes(bytecode))
    except ShaderError as e:
        raise _command_error(e) from None
    if blob.program_type != ProgramType.VERTEX:
        raise invalid(f"the input layout's shader bytecode is a {blob.program_type.name.lower()} shader, "
                      f"not a vertex shader")
    return tuple((e.semantic_name.upper(), e.semantic_index, i) for i, e in enumerate(blob.inputs)
                 if e.system_value == SystemValue.UNDEFINED)


def match_layout(named: tuple, signature: tuple) -> tuple:
    """Input-layout elements ((NAME, index, vertex format, slot, offset, per instance), ...)
    matched to a vertex shader's user inputs: ((location, format, slot, offset, per instance), ...).
    A signature element no layout element matches is an error naming it, as in D3D11."""
    by_semantic = {(n, i): rest for (n, i, *rest) in named}
    out = []
    for name, index, location in signature:
        rest = by_semantic.get((name, index))
        if rest is None:
            raise invalid(f"the vertex shader reads {name}{index}, which the input layout does not have")
        out.append((location, *rest))
    return tuple(out)


def _scalar(vertex_format: str) -> str:
    return "u32" if vertex_format.startswith("uint") else "i32" if vertex_format.startswith("sint") else "f32"


def static_spec(program: DxbcProgram, base: Specialization, varyings=None,
                vertex_elements: tuple = ()) -> Specialization:
    """What `program`'s specialization takes from the other stage and the input layout: fixed
    for a (VS, PS, layout) combination, so the renderer makes it once per combination."""
    inputs = tuple(sorted((loc, _scalar(fmt)) for (loc, fmt, *_rest) in vertex_elements))
    if not (inputs or varyings):
        return base
    return replace(base, vertex_inputs=inputs, varyings=varyings)


def stage_spec(program: DxbcProgram, renderer: Any, stage: ShaderStage, static: Specialization,
               base_instance: int = 0, base_vertex: int = 0) -> Specialization:
    """The specialization `program` needs with what `renderer` has bound for `stage` now:
    `static` (see static_spec) plus what the bound views, buffers and targets decide
    (`base_instance`, `base_vertex`: the draw's, see Specialization). The same object comes back for the
    same inputs, so its (cached) hash is all a pipeline lookup pays."""
    src = program.source
    needs = src.needs
    sample_count = renderer._samples() if "sample_count" in needs else 0
    if "instance_id" not in needs:
        base_instance = 0
    if "vertex_id" not in needs:
        base_vertex = 0
    textures = []
    if src.textures:
        views = renderer.shader_resources[stage]
        for slot in src.textures:
            fmt = getattr(views.get(slot), "wgpu_format", None)
            if fmt is not None and fmt.startswith("depth"):
                textures.append((slot, "depth"))
    typed = []
    if src.buffers:
        views = renderer.shader_resources[stage]
        for slot, kind in src.buffers.items():
            v = views.get(slot)
            if kind == "typed" and isinstance(v, BufferView):
                typed.append((f"t{slot}", v.components))
    storage = []
    if src.uavs:
        for slot, (_dim, kind) in src.uavs.items():
            v = renderer.uavs.get(slot)
            if kind != "typed" or v is None:
                continue
            if isinstance(v, BufferView):
                typed.append((f"u{slot}", v.components))
            else:
                storage.append((slot, v.wgpu_format))
    sizes = []
    if src.constant_buffers:
        bound = renderer.constant_buffers[stage]
        for slot, declared in src.constant_buffers.items():
            buf = bound.get(slot)
            if buf is not None and buf.byte_width // 16 < declared:
                sizes.append((slot, buf.byte_width // 16))
    if not (textures or storage or sizes or typed or sample_count or base_instance or base_vertex):
        return static
    key = (static, tuple(textures), tuple(storage), tuple(sizes), tuple(typed), sample_count, base_instance,
           base_vertex)
    spec = program.specs.get(key)
    if spec is None:
        spec = replace(static, textures=key[1], storage_formats=key[2], constant_buffer_sizes=key[3],
                       typed_buffers=key[4], sample_count=sample_count, base_instance=base_instance,
                       base_vertex=base_vertex)
        if len(program.specs) >= MAX_VARIANTS * 4:
            program.specs.clear()
        program.specs[key] = spec
    return spec


def linked(vs: DxbcProgram, ps: Any) -> tuple:
    """(VS output varyings, PS input varyings) of a DXBC pair; (None, None) where either is WGSL."""
    if not isinstance(ps, DxbcProgram):
        return None, None
    hit = vs.links.get(ps.serial)
    if hit is None:
        try:
            hit = translate.link(vs.source, ps.source)
        except ShaderError as e:
            raise _command_error(e) from None
        if len(vs.links) > 64:
            vs.links.clear()
        vs.links[ps.serial] = hit
    return hit
