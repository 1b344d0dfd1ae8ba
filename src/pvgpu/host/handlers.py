"""Per-opcode command handlers generated from the protocol spec (the host's hot path).

For every command that creates no object and is not one of the session's own (DESTROY_OBJECT,
FENCE, PRESENT), Python source is built from the spec entry and exec'd once at import: one
precompiled struct per command, straight-line unpacking, the decoder's checks (record size,
count limits, enum, flag, bool and finite-float values) and the session's checks (object ids
alive and of the right kind, heap ranges inside the heap) written out from the fields'
meanings, then the renderer method called with positional arguments. No dataclass or
dictionary is made per command.

A handler returns True when the command ran (or was skipped by SetPredication) and False
when any check failed; the session then runs the record through the general path (codec
decode, `Session._resolve`), which raises the same error it always did, so error reporting
stays identical. Checks run in the order the general path runs them: decoder checks, then
the predication skip, then ids and heap ranges.

Feature bits (spec `Command.feature`, `FEATURE_USES`): a session gets no handler for a command
whose feature it did not accept, and for a command whose field values may need such a feature
the gated variant, which also refuses those values; the session's general path then reports
UNSUPPORTED naming the bit. A session that accepted the features runs the plain handlers, so
the checks cost nothing there.

Array elements reach the renderer as plain values: a list of the (resolved) objects where an
element is one object field (slot lists), else a list of tuples in field order with object
fields resolved.
"""

from __future__ import annotations

import inspect
import struct
from typing import Callable

from ..protocol import codec
from ..protocol.enums import ErrorCode, Feature, ObjectKind
from ..protocol.spec import FEATURE_USES, FeatureUse
from ..protocol.types import F32, Field, Meaning
from .errors import CommandError

#: Commands the session handles itself (they touch the object table, fences or presenters).
SESSION_COMMANDS = frozenset({"DESTROY_OBJECT", "FENCE", "PRESENT", "SET_DISPLAY_MODE", "PAD"})
HEADER = codec.HEADER_SIZE


def _check_lines(var: str, f: Field, ns: dict, indent: str) -> list[str]:
    """Decoder range checks for one value (False on failure)."""
    if f.meaning is Meaning.ENUM:
        allowed = frozenset(int(v) for v in f.enum)
        ns_name = f"_E_{len(ns)}"
        ns[ns_name] = allowed
        return [f"{indent}if {var} not in {ns_name}: return False"]
    if f.meaning is Meaning.FLAGS:
        mask = 0
        for v in f.enum:
            mask |= int(v)
        return [f"{indent}if {var} & {~mask & 0xFFFFFFFF:#x}: return False"]
    if f.meaning is Meaning.BOOL:
        return [f"{indent}if {var} > 1: return False"]
    if f.wire is F32:
        return [f"{indent}if {var} - {var} != 0.0: return False"]  # NaN and infinities
    return []


def _kinds_test(var: str, kinds: tuple, ns: dict) -> str:
    """An expression true when entry `var`'s kind is not one of `kinds`."""
    if len(kinds) == 1:
        name = f"_K_{int(kinds[0])}"
        ns[name] = ObjectKind(kinds[0])
        return f"{var}.kind is not {name}"
    name = f"_KS_{len(ns)}"
    ns[name] = frozenset(ObjectKind(k) for k in kinds)
    return f"{var}.kind not in {name}"


def _resolve_lines(var: str, out: str, f: Field, ns: dict, indent: str) -> list[str]:
    lines = []
    inner = indent
    if f.optional:
        lines += [f"{indent}if {var} == 0:", f"{indent}    {out} = None", f"{indent}else:"]
        inner = indent + "    "
    lines += [f"{inner}_e = entries.get({var})",
              f"{inner}if _e is None or {_kinds_test('_e', f.kinds, ns)}: return False",
              f"{inner}{out} = _e.obj"]
    return lines


#: command name -> the feature uses of its fields (spec.FEATURE_USES)
USES_BY_COMMAND: dict[str, tuple[FeatureUse, ...]] = {}
for _use in FEATURE_USES:
    USES_BY_COMMAND[_use.command] = USES_BY_COMMAND.get(_use.command, ()) + (_use,)


def _refused(use: FeatureUse, session) -> frozenset[int] | int:
    """What a gated handler refuses for `use` in this session: its values (or mask) when the
    session did not accept the feature, else nothing."""
    if session.accepted_features & use.feature:
        return 0 if use.mask else frozenset()
    return use.mask if use.mask else use.values


def handler_source(layout: codec.CommandLayout, method_params: list[str] | None,
                   gated: bool = False) -> tuple[str, dict]:
    """Source of `make(renderer, session)` returning the handler for `layout`, and its globals.
    `gated`: the handler also refuses the field values that need a feature the session did not
    accept (the variant used only by sessions that lack one; the others run the plain one)."""
    ns: dict = {"_S": struct.Struct("<" + "".join(s.field.wire.code for s in layout.slots))}
    gate_setup: list[str] = []
    names = [("_pad" if s.field.meaning is Meaning.PAD else "v_" + s.field.name) for s in layout.slots]
    body: list[str] = []
    el = layout.element
    fixed = HEADER + layout.fixed_size
    if el is None:
        body.append(f"    if size != {layout.fixed_record_size}: return False")
    else:
        body.append(f"    if size < {fixed}: return False")
    if names:
        body.append(f"    {', '.join(names)}{',' if len(names) == 1 else ''} = _S.unpack_from(data, off + {HEADER})")
    for f in layout.fields:
        body += _check_lines("v_" + f.name, f, ns, "    ")
    if gated:
        for i, use in enumerate(USES_BY_COMMAND.get(layout.name, ())):
            if use.element:
                raise ValueError(f"{layout.name}: feature uses of array elements are checked by the session")
            ns[f"_U_{i}"] = use
            gate_setup.append(f"    g_{i} = _refused(_U_{i}, session)")
            test = f"v_{use.field} & g_{i}" if use.mask else f"v_{use.field} in g_{i}"
            body.append(f"    if {test}: return False")
        ns["_refused"] = _refused
    el_objects: list[Field] = []
    single_object = False
    if el is not None:
        count = "v_" + layout.count_field.name
        body.append(f"    if {count} > {layout.count_field.limit}: return False")
        body.append(f"    if size != ({fixed} + {count} * {el.size} + 15) & ~15: return False")
        ns["_ES"] = el.struct
        el_names = [("_pad" if s.field.meaning is Meaning.PAD else "e_" + s.field.name) for s in el.slots]
        el_checks: list[str] = []
        for f in el.fields:
            el_checks += _check_lines("e_" + f.name, f, ns, "        ")
        el_objects = [f for f in el.fields if f.meaning is Meaning.OBJECT]
        single_object = len(el.fields) == 1 and len(el_objects) == 1
        plain = not el_objects and not el.has_pads
        unpack = f"{', '.join(el_names)}{',' if len(el_names) == 1 else ''} = _ES.unpack_from(data, _p)"
        if el_checks or plain:  # decoder checks before the predication skip
            body.append(f"    _p = off + {fixed}")
            body.append("    _raw = []")
            body.append(f"    for _i in range({count}):")
            if plain:
                body.append("        _t = _ES.unpack_from(data, _p)")
                if el_checks:
                    body.append(f"        {', '.join(el_names)}{',' if len(el_names) == 1 else ''} = _t")
                    body += el_checks
                body.append("        _raw.append(_t)")
            else:
                body.append(f"        {unpack}")
                body += el_checks
                body.append(f"        _raw.append(({', '.join('e_' + f.name for f in el.fields)},))")
            body.append(f"        _p += {el.size}")
    if layout.command.predicated:
        body.append("    if renderer.predicated: return True")
    args: list[tuple[str, str]] = []  # (parameter name, expression)
    fields = {f.name: f for f in layout.fields}
    for f in layout.fields:
        v = "v_" + f.name
        if f.meaning is Meaning.OBJECT:
            body += _resolve_lines(v, "o_" + f.name, f, ns, "    ")
            args.append((f.name, "o_" + f.name))
        elif f.meaning is Meaning.HEAP_OFFSET:
            range_name = f.name.removesuffix("_offset")
            size_var = "v_" + fields[f.pair].name
            body += [f"    if {size_var}:",
                     f"        if {v} >= heap_size or {size_var} > heap_size - {v}: return False",
                     f"        h_{range_name} = heap[{v}:{v} + {size_var}]",
                     "    else:",
                     f"        h_{range_name} = None"]
            args.append((range_name, "h_" + range_name))
        elif f.meaning in (Meaning.HEAP_SIZE, Meaning.COUNT):
            continue
        elif f.meaning is Meaning.NEW_OBJECT:
            raise ValueError(f"{layout.name}: creating commands go through the session")
        else:
            args.append((f.name, v))
    if el is not None:
        count = "v_" + layout.count_field.name
        if el_objects:
            body.append("    _items = []")
            if el_checks or plain:
                body.append("    for _t in _raw:")
                body.append(f"        {', '.join('e_' + f.name for f in el.fields)}{',' if len(el.fields) == 1 else ''}"
                            f" = _t")
            else:
                body.append(f"    _p = off + {fixed}")
                body.append(f"    for _i in range({count}):")
                body.append(f"        {unpack}")
                body.append(f"        _p += {el.size}")
            for f in el_objects:
                body += _resolve_lines("e_" + f.name, "e_" + f.name, f, ns, "        ")
            if single_object:
                body.append(f"        _items.append(e_{el_objects[0].name})")
            else:
                body.append(f"        _items.append(({', '.join('e_' + f.name for f in el.fields)},))")
            args.append((layout.array_attr, "_items"))
        else:
            args.append((layout.array_attr, "_raw"))
    if method_params is not None and method_params != [a for a, _ in args]:
        call = ", ".join(f"{a}={e}" for a, e in args)
    else:
        call = ", ".join(e for _, e in args)
    body.append(f"    method({call})")
    body.append("    return True")
    src = ["def make(renderer, session):",
           "    entries = session.objects.entries",
           "    heap = session._heap",
           "    heap_size = session._heap_size",
           f"    method = renderer.{layout.name.lower()}",
           *gate_setup,
           "    def handle(data, off, size, seq):"]
    src += ["    " + line for line in body]
    src.append("    return handle")
    return "\n".join(src) + "\n", ns


def _params(cls: type, name: str) -> list[str] | None:
    fn = getattr(cls, name, None)
    if fn is None:
        return None
    return [p for p in inspect.signature(fn).parameters if p != "self"]


class _Makers:
    """How to make one command's handler: `plain`, and `gated` where field values of the
    command need a feature (`features`: those features)."""

    __slots__ = ("plain", "gated", "command_feature", "features")

    def __init__(self, plain: Callable, gated: Callable | None, command_feature: Feature | None,
                 features: int):
        self.plain, self.gated, self.command_feature, self.features = plain, gated, command_feature, features


def _compile(layout: codec.CommandLayout, params: list[str] | None, gated: bool) -> Callable:
    src, ns = handler_source(layout, params, gated)
    exec(compile(src, f"<pvgpu handler {layout.name}{' (gated)' if gated else ''}>", "exec"), ns)
    return ns["make"]


def _build(renderer_cls: type) -> dict[int, _Makers]:
    makers: dict[int, _Makers] = {}
    for opcode, layout in codec.LAYOUTS.items():
        if layout.name in SESSION_COMMANDS or any(f.meaning is Meaning.NEW_OBJECT for f in layout.fields):
            continue
        params = _params(renderer_cls, layout.name.lower())
        uses = USES_BY_COMMAND.get(layout.name, ())
        features = 0
        for use in uses:
            features |= use.feature
        makers[opcode] = _Makers(_compile(layout, params, False), _compile(layout, params, True) if uses else None,
                                 layout.command.feature, features)
    return makers


_MAKERS: dict[type, dict[int, _Makers]] = {}


def make_handlers(renderer, session) -> dict[int, Callable]:
    """opcode -> handler(data, record offset, record size, seq) for this session's renderer and
    the features it accepted (`session.accepted_features`; make them again when that changes).
    A command that needs a feature the session did not accept gets no handler (the session's
    general path refuses it); one whose field values may need such a feature gets the gated
    variant. Sessions that accepted everything a command touches run the plain handler."""
    makers = _MAKERS.get(type(renderer))
    if makers is None:
        makers = _MAKERS[type(renderer)] = _build(type(renderer))
    accepted = session.accepted_features
    handlers = {}
    for op, m in makers.items():
        if m.command_feature is not None and not accepted & m.command_feature:
            continue
        make = m.gated if m.features & ~accepted else m.plain
        handlers[op] = make(renderer, session)
    return handlers


def feature_gates(accepted: int) -> dict[int, tuple[Feature | None, tuple[FeatureUse, ...]]]:
    """opcode -> (the feature the whole command needs but was not accepted, or None; the field
    uses whose feature was not accepted), for the commands a session with `accepted` features
    must check; a command absent needs no check."""
    gates = {}
    for op, layout in codec.LAYOUTS.items():
        feature = layout.command.feature
        missing = feature if feature is not None and not accepted & feature else None
        uses = tuple(u for u in USES_BY_COMMAND.get(layout.name, ()) if not accepted & u.feature)
        if missing is not None or uses:
            gates[op] = (missing, uses)
    return gates


def check_features(cmd, gate: tuple[Feature | None, tuple[FeatureUse, ...]]) -> None:
    """Raise UNSUPPORTED, naming the bit, if decoded command `cmd` needs a feature of `gate`."""
    missing, uses = gate
    if missing is not None:
        raise _unsupported(codec.LAYOUTS[cmd.OPCODE].name, missing)
    for use in uses:
        if use.element:
            for i, item in enumerate(getattr(cmd, codec.LAYOUTS[cmd.OPCODE].array_attr)):
                value = getattr(item, use.field)
                if use.uses(value):
                    raise _unsupported(f"elements[{i}].{use.describe(value)}", use.feature)
        else:
            value = getattr(cmd, use.field)
            if use.uses(value):
                raise _unsupported(use.describe(value), use.feature)


def _unsupported(what: str, feature: Feature) -> CommandError:
    return CommandError(ErrorCode.UNSUPPORTED, f"{what} needs feature {feature.name}, which this session did "
                                               f"not accept")


def handled_opcodes() -> frozenset[int]:
    """Opcodes that have a generated handler (the others go through the session's general path)."""
    return frozenset(op for op, l in codec.LAYOUTS.items() if l.name not in SESSION_COMMANDS
                     and not any(f.meaning is Meaning.NEW_OBJECT for f in l.fields))
