"""`pvgpu serve` stops cleanly on SIGINT and SIGTERM, started as a shell starts a background job
(its own process group, SIGINT ignored): guests are told, workers end, and no socket, shared
folder or file is left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from pvgpu import guest as g
from pvgpu.errors import DeviceLostError
from pvgpu.guest.connection import GuestConnection
from pvgpu.host.service import SHUTDOWN_REASON, HostService
from pvgpu.protocol.enums import DeviceStatus, ErrorCode
from pvgpu.transport.control import read_errors
from pvgpu.transport.doorbell import EventFd
from pvgpu.transport.region import Region

pytestmark = pytest.mark.slow

WAIT_S = 60.0  # bound on any single wait (start-up, shutdown); a normal run takes a few seconds
# `trap '' INT; exec pvgpu ...`: what a shell does for `pvgpu serve ... &`.
BACKGROUND = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "os.execv(sys.executable, [sys.executable, '-m', 'pvgpu.cli', *sys.argv[1:]])")
SHARED_RT = g.Texture2DDesc(8, 8, bind_flags=g.BindFlag.RENDER_TARGET | g.BindFlag.SHADER_RESOURCE,
                            misc_flags=g.ResourceMiscFlag.SHARED)


class QemuLikeChannel:
    """A guest channel over the --ivshmem socket, taking the fds as QEMU's ivshmem-doorbell
    device does (docs/specs/ivshmem-spec): version, own peer id, -1 with the memory, the host
    peer's doorbell eventfd, own interrupt eventfd."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT_S)
        self.sock.connect(path)
        version, _ = self._recv()
        self.peer_id, _ = self._recv()
        memory, region_fd = self._recv()
        host_peer, doorbell_fd = self._recv()
        own, interrupt_fd = self._recv()
        assert (version, memory, own) == (0, -1, self.peer_id) and host_peer == 0
        self.region = Region(region_fd, os.fstat(region_fd).st_size)
        self.doorbell = EventFd(doorbell_fd)
        self.interrupt = EventFd(interrupt_fd)

    def _recv(self) -> tuple[int, int | None]:
        data, fds, _, _ = socket.recv_fds(self.sock, 8, 1)
        assert len(data) == 8
        return struct.unpack("<q", data)[0], (fds[0] if fds else None)

    def ring_doorbell(self) -> None:
        self.doorbell.signal()

    def wait_interrupt(self, timeout: float) -> bool:
        return self.interrupt.wait(timeout)

    def close(self) -> None:
        self.doorbell.close()
        self.interrupt.close()
        self.sock.close()
        self.region.close()


def start_serve(tmp_path, background: bool = True) -> tuple[subprocess.Popen, str, str]:
    sock, ivshmem = str(tmp_path / "host.sock"), str(tmp_path / "ivshmem.sock")
    args = ["serve", "--socket", sock, "--ivshmem", ivshmem, "--region-size", "16M"]
    command = [sys.executable, "-c", BACKGROUND, *args] if background else [sys.executable, "-m", "pvgpu.cli", *args]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    deadline = time.monotonic() + WAIT_S
    while not (os.path.exists(sock) and os.path.exists(ivshmem)):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"pvgpu serve did not start listening:\n{server.communicate()[1]}")
        time.sleep(0.05)
    return server, sock, ivshmem


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def share_dir_of(worker_pid: int) -> str:
    """The share folder a renderer worker was given (its command line carries its config)."""
    argv = command_line(worker_pid)
    return json.loads(argv[argv.index(b"pvgpu.host.worker") + 1])["share_dir"]


def draw_frame(device: g.Device):
    chain = device.create_swap_chain(g.SwapChainDesc(16, 16))
    rtv = device.create_render_target_view(chain.get_buffer(0))
    device.get_immediate_context().clear_render_target_view(rtv, (0.0, 1.0, 0.0, 1.0))
    chain.present(0)
    chain.wait_idle()
    return chain, rtv


def guests_and_workers(sock: str, ivshmem: str, server: subprocess.Popen):
    """A local guest (with a shared texture, so its session has files in the share folder) and
    a QEMU-like ivshmem guest, each having presented a frame."""
    local = g.connect(sock, timeout=WAIT_S)
    draw_frame(local)
    shared = local.create_texture2d(SHARED_RT)
    local.get_immediate_context().clear_render_target_view(local.create_render_target_view(shared), (1, 0, 0, 1))
    local.get_immediate_context().flush()
    local.connection.finish()
    vm = g.Device(GuestConnection(QemuLikeChannel(ivshmem), timeout=WAIT_S))
    draw_frame(vm)
    workers = children(server.pid)
    assert len(workers) == 2, f"expected a renderer worker per guest, found {workers}"
    share_dirs = {share_dir_of(pid) for pid in workers}
    assert all(os.path.isdir(d) for d in share_dirs)
    assert any(files for d in share_dirs for _, _, files in os.walk(d)), "the shared texture has no file"
    return local, vm, workers, share_dirs


def blocked_wait(device: g.Device) -> tuple[threading.Thread, list]:
    """A guest thread waiting (up to WAIT_S) for a fence the host will never reach."""
    outcome: list = []

    def wait() -> None:
        try:
            device.connection.wait_fence(device.connection.completed_fence + 1000, timeout=WAIT_S)
            outcome.append(None)
        except Exception as e:
            outcome.append(e)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, outcome


def assert_told(device: g.Device) -> None:
    conn = device.connection
    assert conn.device_status == DeviceStatus.LOST
    last = read_errors(conn.region)[-1]
    assert (last.code, last.detail) == (ErrorCode.DEVICE_LOST, SHUTDOWN_REASON)
    assert conn.lost_reason() == SHUTDOWN_REASON
    with pytest.raises(DeviceLostError, match=SHUTDOWN_REASON):  # and every later wait says so
        conn.finish()


def assert_nothing_left(server, sock, ivshmem, workers, share_dirs) -> None:
    assert [pid for pid in workers if alive(pid)] == []
    assert children(server.pid) == []
    assert not os.path.exists(sock) and not os.path.exists(ivshmem)
    assert [d for d in share_dirs if os.path.exists(d)] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_background_serve_stops_cleanly(tmp_path, signum):
    server, sock, ivshmem = start_serve(tmp_path)
    try:
        local, vm, workers, share_dirs = guests_and_workers(sock, ivshmem, server)
        waiting, outcome = blocked_wait(local)
        server.send_signal(signum)
        _, err = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"pvgpu serve: stopped on {signal.Signals(signum).name}"), err
    assert "Traceback" not in err, err
    waiting.join(WAIT_S)
    assert not waiting.is_alive() and isinstance(outcome[0], DeviceLostError), outcome
    assert SHUTDOWN_REASON in str(outcome[0])
    assert_told(local)
    assert_told(vm)
    assert_nothing_left(server, sock, ivshmem, workers, share_dirs)
    local.close()
    vm.close()


def test_ctrl_c_on_the_foreground_process_group(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the workers leave their ending to
    the service (no tracebacks, no 'renderer exited unexpectedly')."""
    server, sock, ivshmem = start_serve(tmp_path, background=False)
    try:
        local, vm, workers, share_dirs = guests_and_workers(sock, ivshmem, server)
        os.killpg(server.pid, signal.SIGINT)
        _, err = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    for device in (local, vm):
        assert [e.detail for e in read_errors(device.connection.region)] == [SHUTDOWN_REASON]
        assert_told(device)
    assert_nothing_left(server, sock, ivshmem, workers, share_dirs)
    local.close()
    vm.close()


def test_second_signal_stops_at_once(tmp_path):
    """A second signal during the stop kills the workers and exits (128 + signal) at once, still
    telling the guests and removing the sockets and the share folder."""
    server, sock, ivshmem = start_serve(tmp_path)
    try:
        local, vm, workers, share_dirs = guests_and_workers(sock, ivshmem, server)
        for w in workers:  # renderers that would take their time to finish
            os.kill(w, signal.SIGSTOP)
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WAIT_S
        while os.path.exists(sock) and time.monotonic() < deadline:  # the orderly stop has begun
            time.sleep(0.02)
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
    assert server.returncode == 128 + signal.SIGINT, err
    assert "SIGINT again: stopping at once" in err, err
    assert_told(local)
    assert_told(vm)
    assert_nothing_left(server, sock, ivshmem, workers, share_dirs)
    local.close()
    vm.close()


def test_demo_cleans_up_on_sigterm_in_the_background(tmp_path):
    """`pvgpu demo` runs its host in-process: SIGTERM (and SIGINT, even ignored at start) take
    its usual Ctrl-C path, which stops the guest, the worker and removes the share folder."""
    demo = subprocess.Popen([sys.executable, "-c", BACKGROUND, "demo", "--frames", "1000000", "--size", "32x24",
                             "--out", ""], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            workers = [pid for pid in children(demo.pid) if b"pvgpu.host.worker" in command_line(pid)]
            if workers or demo.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert workers, "the demo started no renderer worker"
        started = children(demo.pid)  # the worker and the guest process
        share_dir = share_dir_of(workers[0])
        assert os.path.isdir(share_dir)
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=WAIT_S)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err, err
    assert [pid for pid in started if alive(pid)] == []
    assert not os.path.exists(share_dir)


def test_a_second_serve_on_the_same_socket_leaves_the_first_alone(tmp_path):
    server, sock, ivshmem = start_serve(tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "pvgpu.cli", "serve", "--socket", sock], capture_output=True,
                                text=True, timeout=WAIT_S)
        assert second.returncode == 2 and "already serving" in second.stderr, second.stderr
        assert os.path.exists(sock)
        device = g.connect(sock, timeout=WAIT_S)  # the first still serves
        draw_frame(device)
        device.close()
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert not os.path.exists(sock) and not os.path.exists(ivshmem)


def test_thread_isolated_service_stop_tells_its_guests(tmp_path):
    """HostService.stop with sessions in threads (the serve tests above cover worker processes):
    the guest's blocked wait ends with the reason."""
    service = HostService(str(tmp_path / "h.sock"), region_size=16 << 20, isolation="thread").start()
    try:
        device = g.connect(service.socket_path, timeout=WAIT_S)
        draw_frame(device)
        waiting, outcome = blocked_wait(device)
    finally:
        service.stop()
    waiting.join(WAIT_S)
    assert not waiting.is_alive() and isinstance(outcome[0], DeviceLostError), outcome
    assert_told(device)
    assert not os.path.exists(service.socket_path) and not os.path.exists(service.share_dir)
    device.close()
