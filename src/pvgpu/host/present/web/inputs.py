"""Text messages from a viewer page: checked before anything acts on them (whoever reaches the
page sends them), and rate-limited per viewer.

Input for the guest (what pvgpu.vm.input translates to QMP input-send-event events):

    {"type": "key", "code": "KeyA", "down": true}
    {"type": "move", "x": 10, "y": 20, "width": 1280, "height": 720}
    {"type": "button", "button": 0, "down": true}
    {"type": "wheel", "dy": 120}

The page's own messages:

    {"type": "ack", "index": 12}                     frame 12 drawn (the viewer's flow control)
    {"type": "ping", "t": 1712.5}                    clock offset: answered with pong
    {"type": "drawn", "index": 12, "stamp": 7, "t": 1.7e12, "received": 1.7e12}
                                                     benchmark mode (?stamp=1) only: the stamp
                                                     read back from the canvas, when the frame
                                                     was drawn and when its message arrived
"""

from __future__ import annotations

import json
import math
import re
import time

MAX_MESSAGE_BYTES = 512
MAX_SIDE = 1 << 16
INPUT_TYPES = frozenset({"key", "move", "button", "wheel"})
_CODE = re.compile(r"[A-Za-z0-9]{1,32}")

#: field name -> its check, per message type (every field required, none other allowed)
_FIELDS = {
    "key": {"code": lambda v: isinstance(v, str) and _CODE.fullmatch(v) is not None, "down": lambda v: _bool(v)},
    "move": {"x": lambda v: _int(v, 0, MAX_SIDE), "y": lambda v: _int(v, 0, MAX_SIDE),
             "width": lambda v: _int(v, 1, MAX_SIDE), "height": lambda v: _int(v, 1, MAX_SIDE)},
    "button": {"button": lambda v: _int(v, 0, 4), "down": lambda v: _bool(v)},
    "wheel": {"dy": lambda v: _number(v, 1e5)},
    "ack": {"index": lambda v: _int(v, 0, 1 << 62)},
    "ping": {"t": lambda v: _number(v, 1e15)},
    "drawn": {"index": lambda v: _int(v, 0, 1 << 62), "stamp": lambda v: _int(v, -1, 1 << 31),
              "t": lambda v: _number(v, 1e15), "received": lambda v: _number(v, 1e15)},
}


def _bool(v) -> bool:
    return isinstance(v, bool)


def _int(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(v, bound: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= bound


def parse_message(text: str) -> dict:
    """The message as a dict, or ValueError saying what is wrong with it."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ValueError(f"a message of {len(text)} characters (at most {MAX_MESSAGE_BYTES})")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg}") from None
    if not isinstance(msg, dict):
        raise ValueError("not a JSON object")
    fields = _FIELDS.get(msg.get("type")) if isinstance(msg.get("type"), str) else None
    if fields is None:
        raise ValueError(f"unknown message type {str(msg.get('type'))[:32]!r}")
    extra = set(msg) - set(fields) - {"type"}
    if extra:
        raise ValueError(f"{msg['type']}: unknown field(s) {', '.join(sorted(map(str, extra)))[:64]}")
    for name, ok in fields.items():
        if name not in msg or not ok(msg[name]):
            raise ValueError(f"{msg['type']}: {name} is missing or out of range")
    if msg["type"] == "move" and not (msg["x"] < msg["width"] and msg["y"] < msg["height"]):
        raise ValueError("move: the position lies outside the frame")
    return msg


class RateLimit:
    """At most `rate` messages per second, in bursts of at most `rate` (a token bucket)."""

    def __init__(self, rate: float = 1000.0, clock=time.monotonic):
        self.rate, self.clock = rate, clock
        self.tokens, self.last = rate, clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
