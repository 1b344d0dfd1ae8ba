"""WGSL shader intake: compile the module and find the bindings it declares.

Under the binding convention (docs/protocol.md) a binding number alone says what kind of
slot it is, so the renderer only needs the (group, binding) pairs a module declares.
"""

from __future__ import annotations

import re

import wgpu

from ...protocol.bindings import slot_for
from ...protocol.enums import ShaderStage
from ..errors import CommandError, invalid
from ...protocol.enums import ErrorCode
from .objects import Shader

_ATTR = r"@(group|binding)\s*\(\s*(\d{1,6})\s*\)"
_DECL = re.compile(_ATTR + r"\s*" + _ATTR)
_ENTRY = {ShaderStage.VERTEX: re.compile(r"@vertex\b"), ShaderStage.PIXEL: re.compile(r"@fragment\b")}
MAX_SHADER_BYTES = 1 << 20


def declared_bindings(source: str, stage: ShaderStage) -> frozenset[int]:
    out = set()
    for m in _DECL.finditer(source):
        attrs = {m.group(1): int(m.group(2)), m.group(3): int(m.group(4))}
        if "group" not in attrs or "binding" not in attrs:
            continue
        if attrs["group"] != int(stage):
            raise invalid(f"{stage.name} shader declares @group({attrs['group']}); "
                          f"{stage.name} resources live in @group({int(stage)})")
        try:
            slot_for(attrs["binding"])
        except ValueError as e:
            raise invalid(f"{stage.name} shader: {e}") from None
        out.add(attrs["binding"])
    return frozenset(out)


def compile_wgsl(device: wgpu.GPUDevice, code: bytes, stage: ShaderStage) -> Shader:
    if len(code) > MAX_SHADER_BYTES:
        raise CommandError(ErrorCode.COUNT_LIMIT, f"shader of {len(code)} bytes exceeds {MAX_SHADER_BYTES}")
    try:
        source = code.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid(f"WGSL source is not UTF-8 ({e.reason} at byte {e.start})") from None
    source = source.rstrip("\0")
    entries = len(_ENTRY[stage].findall(source))
    if entries != 1:
        raise invalid(f"a {stage.name.lower()} shader needs exactly one "
                      f"{'@vertex' if stage == ShaderStage.VERTEX else '@fragment'} entry point, found {entries}")
    bindings = declared_bindings(source, stage)
    try:
        module = device.create_shader_module(code=source)
    except wgpu.GPUError as e:
        first = str(e).strip().splitlines()
        raise CommandError(ErrorCode.HOST_GPU_ERROR, "WGSL: " + " ".join(first)[:400]) from None
    return Shader(stage, module, bindings)
