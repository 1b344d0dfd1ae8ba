"""Viewer input (JSON messages from the browser page) as QEMU input events.

A message becomes a list of QMP `input-send-event` InputEvent dicts, so the keys and pointer
reach the guest through QEMU's own keyboard and tablet devices, as real input devices there.
Messages come from whoever reaches the viewer page: every field is checked, and anything
unknown or malformed is refused with ValueError.

    {"type": "key", "code": "KeyA", "down": true}              KeyboardEvent.code
    {"type": "move", "x": 10, "y": 20, "width": 1280, "height": 720}   frame pixels
    {"type": "button", "button": 0, "down": true}              MouseEvent.button
    {"type": "wheel", "dy": 120}                               WheelEvent.deltaY
"""

from __future__ import annotations

import math

#: QEMU's absolute pointer range is 0..ABS_MAX on both axes (INPUT_EVENT_ABS_MAX).
ABS_MAX = 0x7FFF
#: The largest frame side a move message may name.
MAX_FRAME_SIDE = 1 << 16


def _code_table() -> dict[str, str]:
    """KeyboardEvent.code (W3C UI Events code values) -> QEMU QKeyCode (qapi/ui.json)."""
    table = {f"Key{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    table |= {f"Digit{d}": str(d) for d in range(10)}
    table |= {f"F{n}": f"f{n}" for n in range(1, 25)}  # f13..f24 need QEMU 8.0
    table |= {f"Numpad{d}": f"kp_{d}" for d in range(10)}
    table |= {
        # modifiers
        "ShiftLeft": "shift", "ShiftRight": "shift_r", "ControlLeft": "ctrl", "ControlRight": "ctrl_r",
        "AltLeft": "alt", "AltRight": "alt_r", "MetaLeft": "meta_l", "MetaRight": "meta_r",
        "OSLeft": "meta_l", "OSRight": "meta_r",  # older Firefox names of the Meta keys
        "CapsLock": "caps_lock", "NumLock": "num_lock", "ScrollLock": "scroll_lock",
        # writing system keys and whitespace
        "Escape": "esc", "Minus": "minus", "Equal": "equal", "Backspace": "backspace", "Tab": "tab",
        "BracketLeft": "bracket_left", "BracketRight": "bracket_right", "Enter": "ret",
        "Semicolon": "semicolon", "Quote": "apostrophe", "Backquote": "grave_accent", "Backslash": "backslash",
        "Comma": "comma", "Period": "dot", "Slash": "slash", "Space": "spc", "IntlBackslash": "less",
        "IntlRo": "ro", "IntlYen": "yen", "ContextMenu": "compose",
        "Convert": "henkan", "NonConvert": "muhenkan", "KanaMode": "katakanahiragana", "Lang1": "lang1",
        "Lang2": "lang2", "Lang4": "hiragana",
        # navigation and editing
        "Insert": "insert", "Delete": "delete", "Home": "home", "End": "end", "PageUp": "pgup",
        "PageDown": "pgdn", "ArrowLeft": "left", "ArrowUp": "up", "ArrowRight": "right", "ArrowDown": "down",
        "PrintScreen": "print", "Pause": "pause", "Help": "help", "Undo": "undo", "Copy": "copy",
        "Paste": "paste", "Cut": "cut", "Find": "find", "Open": "open", "Again": "again", "Props": "props",
        # keypad
        "NumpadDecimal": "kp_decimal", "NumpadAdd": "kp_add", "NumpadSubtract": "kp_subtract",
        "NumpadMultiply": "kp_multiply", "NumpadDivide": "kp_divide", "NumpadEnter": "kp_enter",
        "NumpadEqual": "kp_equals", "NumpadComma": "kp_comma",
        # media, browser and system keys
        "AudioVolumeMute": "audiomute", "AudioVolumeUp": "volumeup", "AudioVolumeDown": "volumedown",
        "VolumeMute": "audiomute", "VolumeUp": "volumeup", "VolumeDown": "volumedown",
        "MediaTrackNext": "audionext", "MediaTrackPrevious": "audioprev", "MediaStop": "audiostop",
        "MediaPlayPause": "audioplay", "MediaSelect": "mediaselect", "LaunchMediaPlayer": "mediaselect",
        "LaunchMail": "mail", "LaunchApp1": "computer", "LaunchApp2": "calculator",
        "BrowserHome": "ac_home", "BrowserBack": "ac_back", "BrowserForward": "ac_forward",
        "BrowserRefresh": "ac_refresh", "BrowserFavorites": "ac_bookmarks", "BrowserStop": "stop",
        "Power": "power", "Sleep": "sleep", "WakeUp": "wake",
    }
    return table


#: KeyboardEvent.code -> QKeyCode
KEY_CODES: dict[str, str] = _code_table()
#: MouseEvent.button -> QEMU InputButton
BUTTONS: dict[int, str] = {0: "left", 1: "middle", 2: "right", 3: "side", 4: "extra"}


def _field(message: dict, name: str, kinds: tuple[type, ...], what: str):
    if name not in message:
        raise ValueError(f"{message['type']} input: field {name!r} is missing")
    value = message[name]
    # bool is an int in Python; a JSON true is never a number here, nor 1 a bool.
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{message['type']} input: {name!r} must be {what}, not {value!r}")
    return value


def _number(message: dict, name: str) -> float:
    value = _field(message, name, (int, float), "a number")
    if not math.isfinite(value):
        raise ValueError(f"{message['type']} input: {name!r} must be finite, not {value!r}")
    return value


def _key(message: dict) -> list[dict]:
    code = _field(message, "code", (str,), "a KeyboardEvent.code string")
    down = _field(message, "down", (bool,), "true or false")
    qcode = KEY_CODES.get(code)
    if qcode is None:
        raise ValueError(f"key input: unknown key code {code[:40]!r}")
    return [{"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}]


def _axis(message: dict, pos: str, size: str) -> int:
    extent = _number(message, size)
    if not 1 <= extent <= MAX_FRAME_SIDE:
        raise ValueError(f"move input: {size} must be 1..{MAX_FRAME_SIDE}, not {extent!r}")
    value = _number(message, pos)
    if not 0 <= value <= extent:
        raise ValueError(f"move input: {pos} = {value!r} is outside the frame (0..{extent!r})")
    # Pixel 0 is the first position and pixel extent-1 the last (value == extent, the far
    # edge of the last pixel, lands there too).
    return min(ABS_MAX, round(value * ABS_MAX / max(extent - 1, 1)))


def _move(message: dict) -> list[dict]:
    return [{"type": "abs", "data": {"axis": "x", "value": _axis(message, "x", "width")}},
            {"type": "abs", "data": {"axis": "y", "value": _axis(message, "y", "height")}}]


def _button(message: dict) -> list[dict]:
    button = _field(message, "button", (int,), "an integer")
    down = _field(message, "down", (bool,), "true or false")
    name = BUTTONS.get(button)
    if name is None:
        raise ValueError(f"button input: unknown button {button!r} (0..{max(BUTTONS)})")
    return [{"type": "btn", "data": {"down": down, "button": name}}]


def _wheel(message: dict) -> list[dict]:
    """One wheel notch per message, in the direction of dy (positive: scroll down)."""
    dy = _number(message, "dy")
    if dy == 0:
        return []
    button = "wheel-down" if dy > 0 else "wheel-up"
    return [{"type": "btn", "data": {"down": True, "button": button}},
            {"type": "btn", "data": {"down": False, "button": button}}]


_KINDS = {"key": _key, "move": _move, "button": _button, "wheel": _wheel}


def qmp_events(message: dict) -> list[dict]:
    """The QMP `input-send-event` events for one viewer message (ValueError if it is not one)."""
    if not isinstance(message, dict):
        raise ValueError(f"an input message must be a JSON object, not {type(message).__name__}")
    kind = message.get("type")
    handler = _KINDS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise ValueError(f"unknown input message type {str(kind)[:40]!r} (one of {', '.join(_KINDS)})")
    return handler(message)


__all__ = ["ABS_MAX", "BUTTONS", "KEY_CODES", "qmp_events"]
