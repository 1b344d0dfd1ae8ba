"""Flow control: if/else, loop, break(c)/continue(c), switch/case/default, ret(c), discard,
call(c)/label.

Blocks map one to one onto WGSL's, except:
- every `loop` draws on one per-invocation iteration budget (writer.LOOP_BUDGET) and breaks
  out when it is spent, so that no translated shader can hang the GPU;
- `switch` is written from its whole region at once: D3D's case groups become WGSL case
  selector lists. WGSL has no fallthrough, so a switch where a case body falls through into
  the next is written another way, each body once (copying bodies grew a 30 KB blob into
  8.8 MB of WGSL): a WGSL switch maps the selector to its group's number `k`, then one
  breakable block (`switch 0u { default: {...} }`, so that `break` leaves it and `continue`
  still reaches the enclosing loop) holds `if (k <= i) { body i }` for each group in order;
- subroutines (`label`) become functions; recursion is refused (D3D11 forbids it too).
"""

from __future__ import annotations

from .. import ir
from .writer import Writer, u32_literal

_TERMINATORS = {"break", "ret", "continue"}


def _condition(w: Writer, ins: ir.Instruction) -> str:
    if not ins.operands:
        w.invalid(ins, "the conditional instruction has no operand")
    value = w.src(ins.operands[0], "u32", 1)
    return f"{value} != 0u" if ins.test_nonzero is not False else f"{value} == 0u"


def if_(w: Writer, ins: ir.Instruction) -> None:
    w.enter(ins)
    w.open(f"if ({_condition(w, ins)})")
    w.blocks.append("if")


def else_(w: Writer, ins: ir.Instruction) -> None:
    if not w.blocks or w.blocks[-1] != "if":
        w.invalid(ins, "else without an open if")
    w.blocks[-1] = "else"
    w.close("} else {")
    w.reopen()


def endif(w: Writer, ins: ir.Instruction) -> None:
    if not w.blocks or w.blocks[-1] not in ("if", "else"):
        w.invalid(ins, "endif without an open if")
    w.blocks.pop()
    w.close()
    w.leave()


def loop(w: Writer, ins: ir.Instruction) -> None:
    w.enter(ins)
    w.uses_loop_budget = True
    w.open("loop")
    w.blocks.append("loop")
    w.line("if (loop_budget == 0u) { break; }")
    w.line("loop_budget -= 1u;")


def endloop(w: Writer, ins: ir.Instruction) -> None:
    if not w.blocks or w.blocks[-1] != "loop":
        w.invalid(ins, "endloop without an open loop")
    w.blocks.pop()
    w.close()
    w.leave()


def _inside(w: Writer, ins: ir.Instruction, kinds: tuple[str, ...]) -> None:
    if not any(b in kinds for b in w.blocks):
        w.invalid(ins, f"{ins.name} outside {' or '.join(kinds)}")


def break_(w: Writer, ins: ir.Instruction) -> None:
    _inside(w, ins, ("loop", "switch"))
    w.line("break;")


def breakc(w: Writer, ins: ir.Instruction) -> None:
    _inside(w, ins, ("loop", "switch"))
    w.line(f"if ({_condition(w, ins)}) {{ break; }}")


def continue_(w: Writer, ins: ir.Instruction) -> None:
    _inside(w, ins, ("loop",))
    w.line("continue;")


def continuec(w: Writer, ins: ir.Instruction) -> None:
    _inside(w, ins, ("loop",))
    w.line(f"if ({_condition(w, ins)}) {{ continue; }}")


def ret(w: Writer, ins: ir.Instruction) -> None:
    w.line("return;")


def retc(w: Writer, ins: ir.Instruction) -> None:
    w.line(f"if ({_condition(w, ins)}) {{ return; }}")


def discard(w: Writer, ins: ir.Instruction) -> None:
    if w.stage != ir.ProgramType.PIXEL:
        w.unsupported(ins, "discard exists in pixel shaders only")
    w.line(f"if ({_condition(w, ins)}) {{ discard; }}")


def _switch_region(w: Writer, start: int) -> tuple[list[tuple[list[ir.Instruction], int, int]], int]:
    """The case groups of the switch whose first body instruction is at `start`: a list of
    (case/default instructions, body start, body end), and the index of its endswitch."""
    groups: list[tuple[list[ir.Instruction], int, int]] = []
    labels: list[ir.Instruction] = []
    body_start = None
    nested = 0
    i = start
    n = len(w.instructions)
    while i < n:
        ins = w.instructions[i]
        if ins.name == "switch":
            nested += 1
        elif ins.name == "endswitch":
            if nested == 0:
                if labels:
                    groups.append((labels, body_start if body_start is not None else i, i))
                return groups, i
            nested -= 1
        elif nested == 0 and ins.name in ("case", "default"):
            if body_start is not None and body_start < i:
                groups.append((labels, body_start, i))
                labels = []
            labels.append(ins)
            body_start = i + 1
        elif nested == 0 and body_start is None:
            w.invalid(ins, "an instruction between switch and its first case")
        i += 1
    w.invalid(w.instructions[start - 1], "switch without endswitch")


def _falls_through(w: Writer, group: tuple[list[ir.Instruction], int, int]) -> bool:
    """The group's body does not end in break/ret/continue (a last group's end is the switch's)."""
    _, start, end = group
    return end <= start or w.instructions[end - 1].name not in _TERMINATORS


def switch(w: Writer, ins: ir.Instruction) -> None:
    w.enter(ins)
    selector = w.tmp(w.src(ins.operands[0], "u32", 1), "u32") if ins.operands else w.invalid(ins, "no selector")
    groups, end = _switch_region(w, w.pc)
    selectors = _selectors(w, groups)
    if any(_falls_through(w, g) for g in groups[:-1]):
        _switch_with_fallthrough(w, selector, groups, selectors)
    else:
        w.open(f"switch ({selector})")
        w.blocks.append("switch")
        for (labels, body_start, body_end), sel in zip(groups, selectors):
            w.open(f"case {', '.join(sel)}:")
            _body(w, body_start, body_end)
            w.close()
        if not any("default" in sel for sel in selectors):
            w.line("default: {}")
        w.blocks.pop()
        w.close()
    w.leave()
    w.pc = end + 1


def _switch_with_fallthrough(w: Writer, selector: str, groups: list, selectors: list[list[str]]) -> None:
    """Each body once: `first` = the selected group's number (len(groups): none), then the
    bodies in order, body i run when first <= i; a body's `break` leaves the enclosing block."""
    first = w.var(u32_literal(len(groups)), "u32")
    with w.block(f"switch ({selector})"):
        for k, sel in enumerate(selectors):
            w.line(f"case {', '.join(sel)}: {{ {first} = {u32_literal(k)}; }}")
        if not any("default" in sel for sel in selectors):
            w.line("default: {}")
    w.open("switch (0u)")
    w.open("default:")
    w.blocks.append("switch")
    for k, (labels, body_start, body_end) in enumerate(groups):
        w.open(f"if ({first} <= {u32_literal(k)})")
        _body(w, body_start, body_end)
        w.close()
    w.blocks.pop()
    w.close()
    w.close()


def _selectors(w: Writer, groups: list) -> list[list[str]]:
    """Each group's WGSL case selectors (`default` among them where D3D's default is)."""
    seen: set[int] = set()
    has_default = False
    out = []
    for labels, body_start, body_end in groups:
        selectors = []
        for label in labels:
            if label.name == "default":
                if has_default:
                    w.invalid(label, "a second default in one switch")
                has_default = True
                selectors.append("default")
                continue
            if not label.operands or label.operands[0].type != ir.OperandType.IMMEDIATE32 \
                    or not label.operands[0].values:
                w.invalid(label, "case needs an immediate value")
            value = label.operands[0].values[0] & 0xFFFFFFFF
            if value in seen:
                w.invalid(label, f"case {value} appears twice in one switch")
            seen.add(value)
            selectors.append(u32_literal(value))
        out.append(selectors)
    return out


def _body(w: Writer, start: int, end: int) -> None:
    depth, blocks = w.depth, len(w.blocks)
    w.emit_range(start, end)
    if w.depth != depth or len(w.blocks) != blocks:
        w.invalid(w.instructions[end - 1] if end > start else None,
                  "a flow-control block crosses a case boundary")


def stray(w: Writer, ins: ir.Instruction) -> None:
    w.invalid(ins, f"{ins.name} outside a switch")


def label(w: Writer, ins: ir.Instruction) -> None:
    w.invalid(ins, "label inside the main program body")


def _label_number(w: Writer, ins: ir.Instruction, op: ir.Operand) -> int:
    if op.type != ir.OperandType.LABEL or len(op.indices) != 1 or op.indices[0].relative is not None:
        w.invalid(ins, "expects a label operand l#")
    return op.indices[0].immediate


def call(w: Writer, ins: ir.Instruction) -> None:
    if not ins.operands:
        w.invalid(ins, "call without a label")
    n = _label_number(w, ins, ins.operands[0])
    w.calls.setdefault(w.current_function, set()).add(n)
    w.line(f"label{n}();")


def callc(w: Writer, ins: ir.Instruction) -> None:
    if len(ins.operands) != 2:
        w.invalid(ins, "callc needs a condition and a label")
    n = _label_number(w, ins, ins.operands[1])
    w.calls.setdefault(w.current_function, set()).add(n)
    w.line(f"if ({_condition(w, ins)}) {{ label{n}(); }}")


def emit_functions(w: Writer, body_end: int) -> None:
    """Writes each `label` region after the main body as a WGSL function."""
    starts = [i for i in range(body_end, len(w.instructions)) if w.instructions[i].name == "label"]
    bounds = list(zip(starts, starts[1:] + [len(w.instructions)]))
    for start, end in bounds:
        ins = w.instructions[start]
        if not ins.operands:
            w.invalid(ins, "label without a number")
        n = _label_number(w, ins, ins.operands[0])
        if n in w.functions:
            w.invalid(ins, f"label l{n} is defined twice")
        w.current_function = n
        with w.capture() as lines:
            w.emit_range(start + 1, end)
        if w.depth != 0 or w.blocks:
            w.invalid(ins, f"a flow-control block in label l{n} is not closed")
        w.functions[n] = lines
    w.current_function = None
    _check_calls(w)


def _check_calls(w: Writer) -> None:
    for targets in w.calls.values():
        for t in targets:
            if t not in w.functions:
                w.invalid(None, f"call to label l{t}, which is not defined")
    state: dict[int | None, int] = {}

    def visit(f: int | None, depth: int) -> None:
        if state.get(f) == 1:
            w.unsupported(None, f"recursive call through label l{f}")
        if state.get(f) == 2:
            return
        if depth > 32:
            w.unsupported(None, "calls nested deeper than 32")
        state[f] = 1
        for t in sorted(w.calls.get(f, ())):
            visit(t, depth + 1)
        state[f] = 2
    visit(None, 0)
    for f in list(w.calls):
        visit(f, 0)


HANDLERS = {
    "if": if_,
    "else": else_,
    "endif": endif,
    "loop": loop,
    "endloop": endloop,
    "break": break_,
    "breakc": breakc,
    "continue": continue_,
    "continuec": continuec,
    "ret": ret,
    "retc": retc,
    "discard": discard,
    "switch": switch,
    "case": stray,
    "default": stray,
    "endswitch": stray,
    "label": label,
    "call": call,
    "callc": callc,
}
