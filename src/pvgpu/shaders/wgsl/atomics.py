"""Atomics on UAV buffers and group-shared memory (`atomic_*`, `imm_atomic_*`) and `sync`.

Buffers that any atomic touches are declared `array<atomic<u32>>` (slots.usage), so every
access to them is atomic. WGSL's atomics are unsigned-only for max/min and its
compare-exchange may fail spuriously, so signed max/min and D3D's (strong) compare-exchange
are compare-exchange loops. An atomic out of range changes nothing and returns 0. Typed
texture UAVs (R32_UINT / R32_SINT) use naga's textureAtomic* given the host's "texture-atomic":
those return nothing and have no exchange, so imm_atomic_* and atomic_cmp_store on them are
refused. UAV counters (imm_atomic_alloc / imm_atomic_consume on a structured buffer UAV u#,
append/consume buffers) are a `var<storage, read_write> uN_count: atomic<u32>` at the
convention's UAV-counter binding of slot N, which the host binds to the view's hidden counter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...protocol.bindings import binding_for
from .. import ir
from .memory import word_address
from .slots import Buffer, StorageTexture, slot_number, slot_of

if TYPE_CHECKING:
    from .writer import Writer

#: D3D op -> (WGSL builtin or None for a compare-exchange loop, value kind)
_OPS: dict[str, tuple[str | None, str]] = {
    "and": ("atomicAnd", "u32"),
    "or": ("atomicOr", "u32"),
    "xor": ("atomicXor", "u32"),
    "iadd": ("atomicAdd", "u32"),
    "umax": ("atomicMax", "u32"),
    "umin": ("atomicMin", "u32"),
    "exch": ("atomicExchange", "u32"),
    "imax": (None, "max"),
    "imin": (None, "min"),
    "cmp_store": (None, "cmp"),
    "cmp_exch": (None, "cmp"),
}


#: D3D op -> naga's storage-texture atomic (no returned value, no compare-exchange) and the
#: texel scalar it is exact on (None: either; max/min compare in the texel's own type).
_TEXTURE_OPS: dict[str, tuple[str, str | None]] = {
    "and": ("textureAtomicAnd", None),
    "or": ("textureAtomicOr", None),
    "xor": ("textureAtomicXor", None),
    "iadd": ("textureAtomicAdd", None),
    "umax": ("textureAtomicMax", "u32"),
    "umin": ("textureAtomicMin", "u32"),
    "imax": ("textureAtomicMax", "i32"),
    "imin": ("textureAtomicMin", "i32"),
}


def _texture_atomic(w: "Writer", ins: ir.Instruction, tex: StorageTexture, op_name: str, immediate: bool,
                    addr: ir.Operand, srcs: list[ir.Operand]) -> None:
    """atomic_<op> on a typed texture UAV (r32uint / r32sint, "texture-atomic"): naga's
    textureAtomic*; out of range changes nothing."""
    from .memory import _storage_coords, _storage_in_range
    w.require("texture-atomic", ins, f"atomics on typed texture UAV {tex.name}")
    if immediate or op_name not in _TEXTURE_OPS:
        w.unsupported(ins, f"on typed texture UAV {tex.name}: WGSL's texture atomics return no value and have "
                           "no exchange or compare-exchange")
    fn, scalar = _TEXTURE_OPS[op_name]
    if tex.access != "atomic":
        w.invalid(ins, f"{tex.name} is not declared for atomics")
    if scalar is not None and scalar != tex.scalar:
        w.unsupported(ins, f"{'signed' if scalar == 'i32' else 'unsigned'} max/min on {tex.name} of format "
                           f"{tex.format} (WGSL compares in the texel's type)")
    coords, layer = _storage_coords(w, tex, addr)
    value = w.tmp(w.src(srcs[0], tex.scalar, 1), tex.scalar)
    with w.block(f"if ({_storage_in_range(tex, coords, layer)})"):
        args = ", ".join(x for x in (tex.name, coords, layer, value) if x)
        w.line(f"{fn}({args});")


def _target(w: "Writer", ins: ir.Instruction, op: ir.Operand) -> Buffer:
    entry = slot_of(w, ins, op, Buffer, StorageTexture)
    if isinstance(entry, StorageTexture):
        raise AssertionError("typed texture UAVs are handled by _texture_atomic")
    buf: Buffer = entry  # type: ignore[assignment]
    if not buf.writable or not buf.atomic:
        w.invalid(ins, f"{buf.name} is not a UAV or group-shared memory")
    return buf


def _address(w: "Writer", ins: ir.Instruction, buf: Buffer, op: ir.Operand) -> tuple[str, str]:
    """(word index, condition that it is in range) of an atomic's address operand."""
    if buf.layout == "structured":
        parts = [_component(op, 0), _component(op, 1)]
    else:
        parts = [_component(op, 0)]
    first, avail = word_address(w, ins, buf, parts)
    return first, f"{avail} != 0u"


def _component(op: ir.Operand, c: int) -> ir.Operand:
    """Component c of a source operand's swizzle, as a select-1 operand."""
    if op.type in (ir.OperandType.IMMEDIATE32, ir.OperandType.IMMEDIATE64) and op.components == 1:
        return op
    if op.components == 1 or op.selection == ir.Selection.SELECT1:
        return op
    comps = list(op.swizzle) if op.selection == ir.Selection.SWIZZLE else [0, 1, 2, 3]
    pick = comps[c]
    return ir.Operand(op.type, op.components, ir.Selection.SELECT1, op.mask, (pick,) * 4, op.indices, op.values,
                      op.modifier, op.min_precision, op.nonuniform)


def atomic(w: "Writer", ins: ir.Instruction) -> None:
    """atomic_<op> u#/g#, address, value[, value] and imm_atomic_<op> dst, u#/g#, address, value[, value]."""
    immediate = ins.name.startswith("imm_")
    op_name = ins.name.removeprefix("imm_").removeprefix("atomic_")
    fn, how = _OPS[op_name]
    values = 2 if how == "cmp" else 1
    expected = 2 + values + immediate
    if len(ins.operands) != expected:
        w.invalid(ins, f"{len(ins.operands)} operands, expected {expected}")
    ret = ins.operands[0] if immediate else None
    target, addr, *srcs = ins.operands[immediate:]
    entry = slot_of(w, ins, target, Buffer, StorageTexture)
    if isinstance(entry, StorageTexture):
        _texture_atomic(w, ins, entry, op_name, immediate, addr, srcs)
        return
    buf = _target(w, ins, target)
    index, ok = _address(w, ins, buf, addr)
    kind = "i32" if how in ("max", "min") else "u32"
    vals = [w.tmp(w.src(s, kind, 1), kind) for s in srcs]
    old = w.var("0u", "u32")
    # a fixed-size array indexed by a constant past its end is a compile error in WGSL, guarded or not
    ptr = f"&{buf.name}[min({index}, {buf.words - 1}u)]" if buf.shared else f"&{buf.name}[{index}]"
    with w.block(f"if ({ok})"):
        if fn is not None:
            w.line(f"{old} = {fn}({ptr}, {vals[0]});")
        elif how == "cmp":
            cmp, value = vals
            with w.block("loop"):
                w.line(f"let r = atomicCompareExchangeWeak({ptr}, {cmp}, {value});")
                with w.block(f"if (r.exchanged || r.old_value != {cmp})"):
                    w.line(f"{old} = r.old_value;")
                    w.line("break;")
        else:
            with w.block("loop"):
                w.line(f"let cur = atomicLoad({ptr});")
                w.line(f"let r = atomicCompareExchangeWeak({ptr}, cur, bitcast<u32>({how}(bitcast<i32>(cur), {vals[0]})));")
                with w.block("if (r.exchanged)"):
                    w.line(f"{old} = cur;")
                    w.line("break;")
    if ret is not None:
        w.dst(ret, old, "u32")


def counter(w: "Writer", ins: ir.Instruction) -> None:
    """imm_atomic_alloc dst, u# (the counter's value, then it is incremented) and
    imm_atomic_consume dst, u# (decremented, then its new value), modulo 2^32."""
    if len(ins.operands) != 2:
        w.invalid(ins, f"{len(ins.operands)} operands, expected 2")
    ret, target = ins.operands
    if target.type != ir.OperandType.UNORDERED_ACCESS_VIEW:
        w.invalid(ins, f"the counter's operand is a {target.type.name}, not a UAV")
    entry = slot_of(w, ins, target, Buffer, StorageTexture)
    if not isinstance(entry, Buffer) or entry.layout != "structured":
        w.invalid(ins, f"{getattr(entry, 'name', 'the UAV')} is not a structured buffer UAV (only those have "
                       f"counters)")
    name = f"{entry.name}_count"
    w.global_decl(f"@group({w.group}) @binding({binding_for('uav_counter', slot_number(w, ins, target))}) "
                  f"var<storage, read_write> {name}: atomic<u32>;")
    if ins.name == "imm_atomic_alloc":
        value = w.tmp(f"atomicAdd(&{name}, 1u)", "u32")
    else:
        value = w.tmp(f"atomicSub(&{name}, 1u) - 1u", "u32")
    w.dst(ret, value, "u32")


def sync(w: "Writer", ins: ir.Instruction) -> None:
    """sync[_uglobal|_ugroup][_g][_t]: WGSL barriers are all execution barriers, so each
    variant becomes the barriers for the memory it names (a workgroup barrier at least)."""
    if w.stage != ir.ProgramType.COMPUTE:
        w.unsupported(ins, f"memory barriers in a {w.stage.name.lower()} shader (WGSL has them in compute only)")
    f = ins.sync_flags
    if f & (ir.SyncFlag.UAV_MEMORY_GROUP | ir.SyncFlag.UAV_MEMORY_GLOBAL):
        w.line("storageBarrier();")
        if any(isinstance(v, StorageTexture) and v.access == "read_write" for v in w.decl.values()):
            w.line("textureBarrier();")
    if f & (ir.SyncFlag.THREAD_GROUP_SHARED_MEMORY | ir.SyncFlag.THREADS_IN_GROUP) or not f:
        w.line("workgroupBarrier();")


HANDLERS = {
    **{f"atomic_{name}": atomic for name in ("and", "or", "xor", "cmp_store", "iadd", "imax", "imin", "umax", "umin")},
    **{f"imm_atomic_{name}": atomic for name in ("and", "or", "xor", "exch", "cmp_exch", "iadd", "imax", "imin",
                                                   "umax", "umin")},
    "imm_atomic_alloc": counter,
    "imm_atomic_consume": counter,
    "sync": sync,
}
