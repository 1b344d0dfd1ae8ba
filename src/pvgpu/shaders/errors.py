"""Errors of the shader translator. The host turns `ShaderInvalid` into INVALID_CALL and
`ShaderUnsupported` into UNSUPPORTED; the CLI prints either without a traceback."""

from __future__ import annotations

from ..errors import PvgpuError


class ShaderError(PvgpuError):
    """A DXBC blob pvgpu cannot use. `offset` is the dword offset of the instruction in the
    program token stream where that applies (None for container-level problems)."""

    def __init__(self, message: str, offset: int | None = None):
        where = f" (at token {offset})" if offset is not None else ""
        super().__init__(message + where)
        self.message = message
        self.offset = offset


class ShaderInvalid(ShaderError):
    """The blob breaks the DXBC format: bad header, checksum, bounds, unknown opcode."""


class ShaderUnsupported(ShaderError):
    """Well-formed, but uses something pvgpu does not offer (named in the message)."""
