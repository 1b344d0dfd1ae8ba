"""DXBC (shader model 4.0-5.0) to WGSL, sans-IO: bytes in, a WGSL module out.

    container.parse(blob)          -> ir.ShaderBlob   (header, checksum, chunks, signatures)
    decoder.decode(blob.tokens)    -> ir.Program      (the SM4/5 token stream, driven by opcodes.py)
    disasm.disassemble(program)    -> fxc-style assembly text (the same table)
    encoder.encode(program)        -> tokens again; assembler.assemble(text) -> a DXBC container
    translate.load(blob)           -> translate.DxbcShader (parsed, decoded, checked)
    translate.link(vs, ps)         -> the varyings of a VS/PS pair, matched by semantic
    translate.to_wgsl(shader, spec)-> WGSL for one Specialization (specialization.py);
                                      the writer is wgsl/ (writer.py: registers and operands;
                                      alu, flow, interface, resources, textures, memory,
                                      atomics, doubles: the instruction families)

Nothing in this package imports wgpu or does I/O; the host's side is host/render/dxbc.py.
"""

from .decoder import decode
from .disasm import disassemble

__all__ = ["decode", "disassemble"]
