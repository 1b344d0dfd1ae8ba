"""Viewer input reaching a VM's guest: browser messages -> QMP input-send-event -> QEMU's PS/2
keyboard and virtio tablet -> /dev/input/event* in the guest (read there by
pvgpu.demo.input_echo, whose lines the test reads back from the job folder)."""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qemu.qmp.legacy import QEMUMonitorProtocol

from pvgpu.demo.input_echo import READY
from pvgpu.host.present.base import SessionInfo
from pvgpu.host.present.web import WebPresenter
from pvgpu.vm.input import ABS_MAX, BUTTONS, KEY_CODES, qmp_events
from pvgpu.vm.launcher import PACKAGE_PARENT, VirtualMachine
from pvgpu.vm.profile import profile_from_dict

VM_TIMEOUT = 240  # seconds; TCG is slow

# Linux evdev codes (include/uapi/linux/input-event-codes.h)
KEY_ESC, KEY_1, KEY_A, KEY_ENTER, KEY_LEFTSHIFT, KEY_SPACE, KEY_KP7, KEY_F12 = 1, 2, 30, 28, 42, 57, 71, 88
KEY_GRAVE, KEY_SLASH, KEY_RIGHTCTRL, KEY_UP, KEY_DELETE, KEY_LEFTMETA, KEY_Q, KEY_Z = 41, 53, 97, 103, 111, 125, 16, 44
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA = 0x110, 0x111, 0x112, 0x113, 0x114
ABS_X, ABS_Y, REL_WHEEL = 0, 1, 8


# --- the translation ---------------------------------------------------------------------------------
def key_event(qcode: str, down: bool) -> dict:
    return {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}


@pytest.mark.parametrize("code, qcode", [
    ("KeyA", "a"), ("KeyZ", "z"), ("Digit0", "0"), ("Digit9", "9"), ("F1", "f1"), ("F12", "f12"), ("F24", "f24"),
    ("Enter", "ret"), ("Space", "spc"), ("Escape", "esc"), ("Backspace", "backspace"), ("Tab", "tab"),
    ("ShiftLeft", "shift"), ("ShiftRight", "shift_r"), ("ControlLeft", "ctrl"), ("ControlRight", "ctrl_r"),
    ("AltLeft", "alt"), ("AltRight", "alt_r"), ("MetaLeft", "meta_l"), ("MetaRight", "meta_r"),
    ("CapsLock", "caps_lock"), ("ArrowUp", "up"), ("ArrowDown", "down"), ("ArrowLeft", "left"),
    ("ArrowRight", "right"), ("PageUp", "pgup"), ("PageDown", "pgdn"), ("Home", "home"), ("End", "end"),
    ("Insert", "insert"), ("Delete", "delete"), ("Numpad0", "kp_0"), ("Numpad7", "kp_7"),
    ("NumpadEnter", "kp_enter"), ("NumpadAdd", "kp_add"), ("NumpadDecimal", "kp_decimal"), ("NumLock", "num_lock"),
    ("Backquote", "grave_accent"), ("Minus", "minus"), ("Equal", "equal"), ("BracketLeft", "bracket_left"),
    ("BracketRight", "bracket_right"), ("Backslash", "backslash"), ("Semicolon", "semicolon"),
    ("Quote", "apostrophe"), ("Comma", "comma"), ("Period", "dot"), ("Slash", "slash"), ("IntlBackslash", "less"),
    ("PrintScreen", "print"), ("ScrollLock", "scroll_lock"), ("Pause", "pause"), ("ContextMenu", "compose"),
])
@pytest.mark.parametrize("down", [True, False])
def test_key_messages(code, qcode, down):
    assert qmp_events({"type": "key", "code": code, "down": down}) == [key_event(qcode, down)]


# Every key of a full-size US/ISO keyboard (W3C UI Events KeyboardEvent.code values).
FULL_KEYBOARD = ([f"Key{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + [f"Digit{d}" for d in range(10)]
                 + [f"F{n}" for n in range(1, 25)] + [f"Numpad{d}" for d in range(10)]
                 + "Escape Minus Equal Backspace Tab BracketLeft BracketRight Enter ControlLeft ControlRight ShiftLeft "
                   "ShiftRight AltLeft AltRight MetaLeft MetaRight Semicolon Quote Backquote Backslash IntlBackslash "
                   "Comma Period Slash Space CapsLock NumLock ScrollLock PrintScreen Pause ContextMenu Insert Delete "
                   "Home End PageUp PageDown ArrowLeft ArrowUp ArrowRight ArrowDown NumpadDecimal NumpadAdd "
                   "NumpadSubtract NumpadMultiply NumpadDivide NumpadEnter".split())


def test_the_table_covers_a_full_keyboard_with_distinct_keys():
    missing = [c for c in FULL_KEYBOARD if c not in KEY_CODES]
    assert not missing
    qcodes = [KEY_CODES[c] for c in FULL_KEYBOARD]
    assert len(set(qcodes)) == len(qcodes), "two keys of one keyboard would be the same key in the guest"


@pytest.fixture(scope="module")
def qemu_key_codes():
    """QKeyCode and InputButton as the QEMU installed here knows them (its QMP schema)."""
    with tempfile.TemporaryDirectory(prefix="pvgpu-qkey-") as tmp:
        sock = os.path.join(tmp, "qmp.sock")
        qemu = subprocess.Popen(["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none",
                                 "-qmp", f"unix:{sock},server=on,wait=off"], stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(sock):
                assert qemu.poll() is None and time.monotonic() < deadline, "QEMU did not open its QMP socket"
                time.sleep(0.05)
            qmp = QEMUMonitorProtocol(sock)
            qmp.connect()
            schema = qmp.cmd("query-qmp-schema")
            qmp.close()
        finally:
            qemu.terminate()
            qemu.wait(10)
    enums = [set(e["values"]) for e in schema if e["meta-type"] == "enum"]
    keys = next(e for e in enums if {"kp_0", "ret", "spc"} <= e)
    buttons = next(e for e in enums if {"wheel-up", "left"} <= e)
    return keys, buttons


def test_every_table_entry_is_a_qemu_key(qemu_key_codes):
    keys, buttons = qemu_key_codes
    newer = {f"f{n}" for n in range(13, 25)}  # QKeyCode since QEMU 8.0
    unknown = {code: q for code, q in KEY_CODES.items() if q not in keys and q not in newer}
    assert not unknown, f"not QEMU QKeyCodes: {unknown}"
    assert set(BUTTONS.values()) | {"wheel-up", "wheel-down"} <= buttons


@pytest.mark.parametrize("x, y, width, height, ax, ay", [
    (0, 0, 1280, 720, 0, 0),
    (1279, 719, 1280, 720, ABS_MAX, ABS_MAX),
    (1280, 720, 1280, 720, ABS_MAX, ABS_MAX),  # the far edge of the last pixel
    (639.5, 359.5, 1280, 720, 16384, 16384),  # the centre (16383.5, rounded to even)
    (640, 360, 1280, 720, 16396, 16406),
    (0, 0, 1, 1, 0, 0), (1, 1, 1, 1, ABS_MAX, ABS_MAX),
])
def test_move_scales_frame_pixels_to_the_tablet_range(x, y, width, height, ax, ay):
    assert qmp_events({"type": "move", "x": x, "y": y, "width": width, "height": height}) == [
        {"type": "abs", "data": {"axis": "x", "value": ax}}, {"type": "abs", "data": {"axis": "y", "value": ay}}]


@given(st.integers(1, 8192), st.integers(1, 8192), st.data())
@settings(max_examples=200, deadline=None)
def test_move_is_monotonic_and_in_range(width, height, data):
    x = data.draw(st.floats(0, width))
    x2 = data.draw(st.floats(x, width))
    events = qmp_events({"type": "move", "x": x, "y": 0, "width": width, "height": height})
    later = qmp_events({"type": "move", "x": x2, "y": height, "width": width, "height": height})
    assert 0 <= events[0]["data"]["value"] <= later[0]["data"]["value"] <= ABS_MAX
    assert later[1]["data"]["value"] == ABS_MAX and all(type(e["data"]["value"]) is int for e in events)


@pytest.mark.parametrize("button, name", [(0, "left"), (1, "middle"), (2, "right"), (3, "side"), (4, "extra")])
@pytest.mark.parametrize("down", [True, False])
def test_button_messages(button, name, down):
    assert qmp_events({"type": "button", "button": button, "down": down}) == [
        {"type": "btn", "data": {"down": down, "button": name}}]


@pytest.mark.parametrize("dy, name", [(120, "wheel-down"), (1, "wheel-down"), (-120, "wheel-up"), (-0.5, "wheel-up")])
def test_wheel_is_one_notch_press_and_release(dy, name):
    assert qmp_events({"type": "wheel", "dy": dy}) == [{"type": "btn", "data": {"down": True, "button": name}},
                                                      {"type": "btn", "data": {"down": False, "button": name}}]


def test_wheel_without_movement_sends_nothing():
    assert qmp_events({"type": "wheel", "dy": 0}) == []


BAD = {
    "not-a-dict": (["key", "KeyA"], "JSON object"),
    "no-type": ({"code": "KeyA", "down": True}, "unknown input message type"),
    "unknown-type": ({"type": "touch"}, "unknown input message type 'touch'"),
    "type-not-str": ({"type": 1}, "unknown input message type"),
    "unknown-code": ({"type": "key", "code": "KeyÄ", "down": True}, "unknown key code"),
    "empty-code": ({"type": "key", "code": "", "down": True}, "unknown key code"),
    "code-not-str": ({"type": "key", "code": 30, "down": True}, "'code' must be"),
    "key-no-down": ({"type": "key", "code": "KeyA"}, "'down' is missing"),
    "down-int": ({"type": "key", "code": "KeyA", "down": 1}, "'down' must be true or false"),
    "down-str": ({"type": "button", "button": 0, "down": "true"}, "'down' must be true or false"),
    "button-unknown": ({"type": "button", "button": 5, "down": True}, "unknown button 5"),
    "button-negative": ({"type": "button", "button": -1, "down": True}, "unknown button -1"),
    "button-float": ({"type": "button", "button": 0.0, "down": True}, "'button' must be an integer"),
    "button-bool": ({"type": "button", "button": True, "down": True}, "'button' must be an integer"),
    "move-nan": ({"type": "move", "x": math.nan, "y": 0, "width": 10, "height": 10}, "'x' must be finite"),
    "move-inf": ({"type": "move", "x": 0, "y": math.inf, "width": 10, "height": 10}, "'y' must be finite"),
    "move-negative": ({"type": "move", "x": -1, "y": 0, "width": 10, "height": 10}, "outside the frame"),
    "move-beyond": ({"type": "move", "x": 0, "y": 10.5, "width": 10, "height": 10}, "outside the frame"),
    "move-zero-width": ({"type": "move", "x": 0, "y": 0, "width": 0, "height": 10}, "width must be"),
    "move-negative-height": ({"type": "move", "x": 0, "y": 0, "width": 10, "height": -4}, "height must be"),
    "move-huge": ({"type": "move", "x": 0, "y": 0, "width": 10 ** 9, "height": 10}, "width must be"),
    "move-str": ({"type": "move", "x": "1", "y": 0, "width": 10, "height": 10}, "'x' must be a number"),
    "move-bool": ({"type": "move", "x": 0, "y": 0, "width": True, "height": 10}, "'width' must be a number"),
    "move-missing": ({"type": "move", "x": 0, "y": 0, "width": 10}, "'height' is missing"),
    "wheel-nan": ({"type": "wheel", "dy": math.nan}, "'dy' must be finite"),
    "wheel-missing": ({"type": "wheel", "dx": 3}, "'dy' is missing"),
}


@pytest.mark.parametrize("message, words", BAD.values(), ids=BAD.keys())
def test_bad_messages_are_refused_clearly(message, words):
    with pytest.raises(ValueError) as e:
        qmp_events(message)
    assert words in str(e.value)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                    max_size=5), max_leaves=12)


@given(st.fixed_dictionaries({"type": st.sampled_from(["key", "move", "button", "wheel", "x"])},
                             optional={"code": JSONISH | st.sampled_from(list(KEY_CODES)), "down": JSONISH,
                                       "x": JSONISH, "y": JSONISH, "width": JSONISH, "height": JSONISH,
                                       "button": JSONISH, "dy": JSONISH}) | JSONISH)
@settings(max_examples=500, deadline=None)
def test_any_message_is_events_or_value_error(message):
    try:
        events = qmp_events(message)
    except ValueError:
        return
    assert isinstance(events, list) and all(e["type"] in ("key", "abs", "btn") for e in events)


def test_send_input_before_start_and_without_a_vm_drops_quietly(tmp_path):
    vm = VirtualMachine(profile_from_dict({"name": "nostart", "boot": {"source": "host-root", "command": "true"}}),
                        run_dir=str(tmp_path / "run"))
    vm.send_input(qmp_events({"type": "key", "code": "KeyA", "down": True}))
    vm.send_input([])
    assert vm.input_refused == 0


# --- in a VM ------------------------------------------------------------------------------------------
class SessionRecorder:
    """A presenter that keeps the SessionInfo of each session the host starts."""

    def __init__(self):
        self.sessions: list[SessionInfo] = []
        self.started = threading.Event()

    def session_started(self, info: SessionInfo) -> None:
        self.sessions.append(info)
        self.started.set()

    def present(self, session_id, frame) -> None:
        pass

    def close(self) -> None:
        pass


class GuestOutput:
    """The guest program's output (the job folder's output.log, shared over 9p), read as it grows."""

    def __init__(self, vm: VirtualMachine):
        self.vm = vm
        self.path = os.path.join(vm.paths.job, "output.log")

    def lines(self) -> list[str]:
        try:
            with open(self.path, errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_for(self, expected: list[str], start: int = 0, timeout: float = 60) -> list[str]:
        """The lines from `start` on, once every expected line is among them (in order for
        lines of one device; devices are read in turn, so only a per-device order holds)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.lines()[start:]
            if all(line in got for line in expected):
                return got
            assert self.vm.process.poll() is None, f"the VM stopped; guest output:\n{got}\n{self.vm.console_tail()}"
            assert time.monotonic() < deadline, (f"the guest did not print {[e for e in expected if e not in got]}; "
                                                 f"it printed {got}")
            time.sleep(0.1)


def in_order(got: list[str], expected: list[str]) -> bool:
    it = iter(got)
    return all(line in it for line in expected)


@pytest.fixture(scope="module")
def input_vm(tmp_path_factory):
    """One VM for the module: its guest runs the input echo; the host service the launcher
    starts tells `recorder` and the browser viewer `web` of the session. (The session starts
    when QEMU's ivshmem device connects, so the viewer page exists with no guest drawing.)"""
    recorder = SessionRecorder()
    web = WebPresenter(port=0)
    command = (f"PYTHONPATH={shlex.quote(PACKAGE_PARENT)} {shlex.quote(sys.executable)} "
               f"-m pvgpu.demo.input_echo --exit-on {KEY_ESC}")
    profile = profile_from_dict({"name": "input-vm", "memory": "768M", "cpus": 1, "pvgpu": {"region_size": "32M"},
                                 "boot": {"source": "host-root", "command": command}})
    vm = VirtualMachine(profile, run_dir=str(tmp_path_factory.mktemp("vm") / "run"), presenters=[recorder, web])
    vm.recorder, vm.web = recorder, web
    try:
        vm.start()
    except BaseException:
        web.close()
        raise
    vm.output = GuestOutput(vm)
    try:
        deadline = time.monotonic() + VM_TIMEOUT
        while not any(line.startswith(READY) for line in vm.output.lines()):
            assert vm.process.poll() is None, f"the VM stopped: {vm.job_result()}\n{vm.console_tail()}"
            assert time.monotonic() < deadline, f"the input echo never got ready: {vm.job_result()}"
            time.sleep(0.2)
        yield vm
    finally:
        vm.close()
        web.close()


@pytest.mark.slow
def test_input_reaches_the_guest_as_devices(input_vm):
    vm = input_vm
    ready = next(line for line in vm.output.lines() if line.startswith(READY))
    assert "QEMU Virtio Keyboard" in ready and "QEMU Virtio Tablet" in ready, ready
    assert vm.recorder.started.wait(10), "the host service told no presenter of the VM's session"
    (info,) = vm.recorder.sessions
    assert info.name == "input-vm" and info.send_input == vm.send_input

    def send(*messages):
        start = len(vm.output.lines())
        for m in messages:
            info.send_input(qmp_events(m))
        return start

    # Keys, through the SessionInfo the viewer gets: each a real key press in the guest. (In
    # bursts the virtio keyboard's 64 buffered events hold, should the guest fall behind.)
    keys = {"KeyA": KEY_A, "Digit1": KEY_1, "Enter": KEY_ENTER, "ShiftLeft": KEY_LEFTSHIFT, "Space": KEY_SPACE,
            "Numpad7": KEY_KP7, "F12": KEY_F12, "Backquote": KEY_GRAVE, "Slash": KEY_SLASH,
            "ControlRight": KEY_RIGHTCTRL, "ArrowUp": KEY_UP, "Delete": KEY_DELETE, "MetaLeft": KEY_LEFTMETA}
    for burst in (list(keys)[:7], list(keys)[7:]):
        start = send(*({"type": "key", "code": c, "down": d} for c in burst for d in (True, False)))
        expected = [f"key {keys[c]} {v}" for c in burst for v in (1, 0)]
        got = vm.output.wait_for(expected, start)
        assert in_order(got, expected), got

    # The absolute pointer: frame pixels scaled over the tablet's 0..32767.
    size = {"width": 1280, "height": 720}
    start = send({"type": "move", "x": 640, "y": 360, **size}, {"type": "move", "x": 0, "y": 0, **size},
                 {"type": "move", "x": 1279, "y": 719, **size})
    expected = [f"abs {ABS_X} 16396", f"abs {ABS_Y} 16406", f"abs {ABS_X} 0", f"abs {ABS_Y} 0",
                f"abs {ABS_X} {ABS_MAX}", f"abs {ABS_Y} {ABS_MAX}"]
    got = vm.output.wait_for(expected, start)
    assert in_order(got, expected), got

    # Buttons and the wheel (scrolling down is a negative REL_WHEEL step).
    buttons = {0: BTN_LEFT, 1: BTN_MIDDLE, 2: BTN_RIGHT, 3: BTN_SIDE, 4: BTN_EXTRA}
    start = send(*({"type": "button", "button": b, "down": d} for b in buttons for d in (True, False)),
                 {"type": "wheel", "dy": 120}, {"type": "wheel", "dy": -120})
    expected = [f"key {code} {v}" for code in buttons.values() for v in (1, 0)] + [f"rel {REL_WHEEL} -1",
                                                                                    f"rel {REL_WHEEL} 1"]
    got = vm.output.wait_for(expected, start)
    assert in_order(got, expected), got

    # An event QEMU refuses costs nothing but a count; input keeps flowing.
    start = send()
    vm.send_input([key_event("no-such-key", True)])
    assert vm.input_refused == 1, "QEMU took a key it has no name for?"
    vm.send_input(qmp_events({"type": "key", "code": "KeyZ", "down": True}) +
                  qmp_events({"type": "key", "code": "KeyZ", "down": False}))
    vm.output.wait_for([f"key {KEY_Z} 1", f"key {KEY_Z} 0"], start)

    # Viewer input arrives on the web server's threads: several at once share the QMP connection.
    letters = "QWERTYUIOP"
    start = send()
    errors = []

    def type_letter(letter):
        try:
            for down in (True, False):
                vm.send_input(qmp_events({"type": "key", "code": f"Key{letter}", "down": down}))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=type_letter, args=(c,)) for c in letters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and vm.input_refused == 1
    evdev = [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]  # KEY_Q .. KEY_P, one row of the keyboard
    got = vm.output.wait_for([f"key {code} {v}" for code in evdev for v in (1, 0)], start)
    for code in evdev:
        assert got.index(f"key {code} 1") < got.index(f"key {code} 0")


@pytest.mark.slow
def test_keys_and_clicks_on_the_viewer_page_arrive_in_the_guest(input_vm):
    """The whole way, in a real browser: the viewer page of the VM's session, a click on its
    canvas and a key pressed there reach the guest program as tablet and keyboard events."""
    from playwright.sync_api import sync_playwright

    vm = input_vm
    assert vm.recorder.started.wait(10)
    (info,) = vm.recorder.sessions
    url = f"http://127.0.0.1:{vm.web.port}/session/{info.session_id}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)
            page.wait_for_function("document.title.startsWith('input-vm')")  # the hello: input is on
            canvas = page.locator("#screen")
            box = canvas.bounding_box()
            width, height = page.evaluate("[document.getElementById('screen').width, "
                                          "document.getElementById('screen').height]")
            start = len(vm.output.lines())
            canvas.click(position={"x": 100, "y": 50})
            page.keyboard.press("KeyA")
            page.keyboard.press("ShiftLeft")
            page.mouse.wheel(0, 100)
            expected = [f"key {BTN_LEFT} 1", f"key {BTN_LEFT} 0", f"key {KEY_A} 1", f"key {KEY_A} 0",
                        f"key {KEY_LEFTSHIFT} 1", f"key {KEY_LEFTSHIFT} 0", f"rel {REL_WHEEL} -1"]
            got = vm.output.wait_for(expected, start)
            assert in_order(got, expected[2:6]), got
            pointer = [line for line in got if not line.startswith((f"key {KEY_A} ", f"key {KEY_LEFTSHIFT} "))]
            assert pointer[2:] == expected[:2] + expected[-1:], got
            # The click's point: the frame pixel under it (the page rounds its sub-pixel layout
            # offset, so within a pixel) as the tablet reports it.
            for (axis, value), pos, side, frame in zip((line.split()[1:] for line in pointer[:2]), (100, 50),
                                                       (box["width"], box["height"]), (width, height)):
                near = {qmp_events({"type": "move", "x": p, "y": 0, "width": frame, "height": 1})[0]["data"]["value"]
                        for p in range(math.floor(pos * frame / side) - 1, math.floor(pos * frame / side) + 2)}
                assert int(value) in near, (axis, value, near, got)
            assert [line.split()[:2] for line in pointer[:2]] == [["abs", str(ABS_X)], ["abs", str(ABS_Y)]], got
            counters = vm.web.web_counters(info.session_id)
            assert counters["input_failed"] == 0 and counters["input_refused"] == 0, counters
        finally:
            browser.close()


@pytest.mark.slow
def test_input_after_the_guest_ends_is_dropped(input_vm):
    """Escape ends the guest program, the guest powers off; input after that goes nowhere,
    without an error reaching the viewer."""
    vm = input_vm
    start, refused = len(vm.output.lines()), vm.input_refused
    vm.send_input(qmp_events({"type": "key", "code": "Escape", "down": True}))
    vm.send_input(qmp_events({"type": "key", "code": "Escape", "down": False}))
    assert vm.wait(VM_TIMEOUT) == 0
    code, output = vm.job_result()
    assert code == 0 and output.splitlines()[start:][-2:] == [f"key {KEY_ESC} 1", f"key {KEY_ESC} 0"], output
    for info in vm.recorder.sessions:
        info.send_input(qmp_events({"type": "key", "code": "KeyA", "down": True}))
    vm.close()
    vm.send_input(qmp_events({"type": "key", "code": "KeyA", "down": False}))
    assert vm.input_refused == refused
