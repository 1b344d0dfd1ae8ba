"""A guest program that prints what the guest's input devices report, one line per event.

Run inside a VM (`python -m pvgpu.demo.input_echo`), it opens /dev/input/event*, waits until
a keyboard and/or an absolute pointer are among them, prints a ready line, then

    key CODE VALUE     EV_KEY: evdev key or button code (KEY_A = 30, BTN_LEFT = 272), 1 down, 0 up, 2 repeat
    abs AXIS VALUE     EV_ABS: ABS_X = 0, ABS_Y = 1, in the device's range (QEMU's tablets: 0..32767)
    rel AXIS VALUE     EV_REL: REL_WHEEL = 8, +1 up, -1 down

so a test on the host can tell that input sent to QEMU reached the guest as real devices.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import os
import select
import struct
import sys
import time

EVENT = struct.Struct("llHHi")  # struct input_event: struct timeval, type, code, value (64-bit)
EV_KEY, EV_REL, EV_ABS = 0x01, 0x02, 0x03
KEY_A, ABS_X = 30, 0
NAMES = {EV_KEY: "key", EV_REL: "rel", EV_ABS: "abs"}
READY = "input-echo: ready"


def _ioc_read(nr: int, size: int) -> int:
    return (2 << 30) | (size << 16) | (ord("E") << 8) | nr


def device_name(fd: int) -> str:
    buf = bytearray(256)
    fcntl.ioctl(fd, _ioc_read(0x06, len(buf)), buf)  # EVIOCGNAME
    return bytes(buf).split(b"\0", 1)[0].decode("utf-8", "replace")


def has_code(fd: int, event_type: int, code: int) -> bool:
    """Whether the device can report `code` of `event_type` (EVIOCGBIT)."""
    buf = bytearray(96)
    fcntl.ioctl(fd, _ioc_read(0x20 + event_type, len(buf)), buf)
    return bool(buf[code // 8] >> (code % 8) & 1)


def open_devices(need: set[str], timeout: float) -> dict[int, str]:
    """Open every event device; keep looking (drivers may still be probing) until the needed
    kinds ("keyboard": reports KEY_A, "pointer": reports ABS_X) are there."""
    fds: dict[int, str] = {}
    seen: set[str] = set()
    have: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(glob.glob("/dev/input/event*")):
            if path in seen:
                continue
            seen.add(path)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as e:
                print(f"input-echo: cannot open {path}: {e}", flush=True)
                continue
            fds[fd] = device_name(fd)
            if has_code(fd, EV_KEY, KEY_A):
                have.add("keyboard")
            if has_code(fd, EV_ABS, ABS_X):
                have.add("pointer")
        if need <= have:
            return fds
        if time.monotonic() > deadline:
            raise SystemExit(f"input-echo: no {' or '.join(sorted(need - have))} among "
                             f"{sorted(fds.values()) or 'no devices'} after {timeout:.0f} s")
        time.sleep(0.1)


def echo(fds: dict[int, str], exit_on: int | None) -> None:
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    pending = b""
    while True:
        for fd, _ in poller.poll():
            try:
                data = os.read(fd, EVENT.size * 64)
            except BlockingIOError:
                continue
            pending += data
            for offset in range(0, len(pending) - len(pending) % EVENT.size, EVENT.size):
                _, _, kind, code, value = EVENT.unpack_from(pending, offset)
                if kind in NAMES:
                    print(f"{NAMES[kind]} {code} {value}", flush=True)
                if kind == EV_KEY and code == exit_on and value == 0:
                    return
            pending = pending[len(pending) - len(pending) % EVENT.size:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="input_echo", description=__doc__.splitlines()[0])
    parser.add_argument("--need", default="keyboard,pointer",
                        help="device kinds to wait for: keyboard, pointer (comma-separated; empty: none)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for them")
    parser.add_argument("--exit-on", type=int, default=None, metavar="CODE",
                        help="exit when this evdev key code is released (KEY_ESC = 1)")
    args = parser.parse_args(argv)
    need = {k for k in args.need.split(",") if k}
    if need - {"keyboard", "pointer"}:
        parser.error(f"unknown device kind(s) {sorted(need - {'keyboard', 'pointer'})}")
    fds = open_devices(need, args.timeout)
    print(f"{READY} ({'; '.join(fds.values())})", flush=True)
    echo(fds, args.exit_on)
    return 0


if __name__ == "__main__":
    sys.exit(main())
