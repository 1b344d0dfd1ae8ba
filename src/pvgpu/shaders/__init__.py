"""DXBC (shader model 4.0-5.0) to WGSL, sans-IO: bytes in, a WGSL module out.

    container.parse(blob)          -> ir.ShaderBlob   (header, checksum, chunks, signatures)
    decoder.decode(blob.tokens)    -> ir.Program      (the SM4/5 token stream, table-driven)
    disasm.disassemble(...)        -> fxc-style assembly text
    assembler.assemble(text)       -> a DXBC container (tests write their shaders with it)
    wgsl.translate(...)            -> WGSL source for one specialization

Nothing in this package imports wgpu or does I/O.
"""

from .decoder import decode
from .disasm import disassemble

__all__ = ["decode", "disassemble"]
