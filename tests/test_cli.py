"""The `pvgpu` command as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from PIL import Image

PVGPU = [sys.executable, "-m", "pvgpu.cli"]


def run(*args, timeout=120):
    return subprocess.run([*PVGPU, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_writes_png_frames_and_reports_fps(tmp_path):
    out = tmp_path / "frames"
    r = run("demo", "--frames", "4", "--out", str(out), "--size", "96x64")
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(out))
    assert files == [f"frame_{i:04d}.png" for i in range(4)]
    img = Image.open(out / "frame_0003.png")
    assert img.size == (96, 64)
    assert len(set(img.convert("RGB").tobytes()[i:i + 3] for i in range(0, 96 * 64 * 3, 3))) > 10  # not blank
    assert "fps" in r.stderr and "0 host errors" in r.stderr


def test_bad_arguments_give_a_clear_message_without_traceback(tmp_path):
    r = run("demo", "--size", "big")
    assert r.returncode == 2 and "WIDTHxHEIGHT" in r.stderr and "Traceback" not in r.stderr
    r = run("demo", "--guest-only", "--socket", str(tmp_path / "nothing.sock"), "--frames", "1")
    assert r.returncode == 2 and "pvgpu serve" in r.stderr and "Traceback" not in r.stderr


def test_serve_and_guest_only_demo(tmp_path):
    sock, out = tmp_path / "host.sock", tmp_path / "frames"
    server = subprocess.Popen([*PVGPU, "serve", "--socket", str(sock), "--out", str(out), "--region-size", "32M"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "pvgpu serve did not start listening"
            time.sleep(0.05)
        r = run("demo", "--guest-only", "--socket", str(sock), "--frames", "3", "--size", "64x48")
        assert r.returncode == 0, r.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert sorted(os.listdir(out / "session-1")) == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]


def test_header_command_prints_the_committed_header():
    r = run("header")
    with open(os.path.join(os.path.dirname(__file__), "..", "include", "pvgpu_protocol.h")) as f:
        assert r.stdout == f.read()
