"""Starting and stopping a VM: QEMU with the pvgpu device wired to a host service (a running
`pvgpu serve --ivshmem`, or one the launcher starts), driven over QMP with qemu.qmp."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from typing import Callable

from qemu.qmp import ExecuteError
from qemu.qmp.legacy import QEMUMonitorProtocol

from ..errors import PvgpuError
from ..host.session import Presenter
from . import initramfs, qemu
from .accel import AccelChoice
from .profile import Profile
from .pvh import BootKernel

log = logging.getLogger("pvgpu.vm")
QMP_TIMEOUT_S = 10.0
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest_python_command(args: str) -> str:
    """A shell command that runs `python -m pvgpu.cli ARGS` inside a host-root guest with the
    very interpreter and pvgpu sources of this host."""
    return f"PYTHONPATH={shlex.quote(PACKAGE_PARENT)} {shlex.quote(sys.executable)} -m pvgpu.cli {args}"


class VirtualMachine:
    def __init__(self, profile: Profile, command: str | None = None, run_dir: str | None = None,
                 presenters: list[Presenter] = (), on_output: Callable[[str], None] | None = None,
                 window: object | None = None):
        """`window` (present.window.WindowOptions): a desktop window per session, drawn next to
        its renderer by the host service the launcher starts."""
        self.profile = profile
        self.command = command if command is not None else profile.boot.command
        self.paths = qemu.RunPaths(run_dir or qemu.default_run_dir(profile.name))
        self.presenters = list(presenters)
        self.window = window
        self.on_output = on_output
        self.process: subprocess.Popen | None = None
        self.qmp: QEMUMonitorProtocol | None = None
        self.host = None
        self.accel = ""
        self.accel_choice: AccelChoice | None = None  # accel with the reason it was chosen
        self.kernel: BootKernel | None = None  # what -kernel got, and why
        self.started_at = 0.0
        self._follower: threading.Thread | None = None
        # qemu.qmp's legacy client is not thread-safe; viewer input arrives on other threads.
        self._qmp_lock = threading.Lock()
        self.input_refused = 0  # input-send-event calls QEMU answered with an error
        self._input_lost = False

    # --- start ---------------------------------------------------------------------------------
    def command_line(self, accel: str | None = None) -> list[str]:
        """QEMU's arguments under ACCEL (by default the one the profile's `accel` picks here)."""
        host_socket = self.profile.host_socket or self.paths.ivshmem
        accel = accel or qemu.choose_accel(self.profile).accel
        kernel = qemu.boot_kernel(self.profile, accel)
        return qemu.build_command(self.profile, self.paths, accel, host_socket, kernel.path if kernel else None)

    def start(self) -> "VirtualMachine":
        if shutil.which(self.profile.qemu) is None:
            raise PvgpuError(f"{self.profile.qemu} is not installed (Debian: apt-get install qemu-system-x86)")
        if self.profile.boot.source == "host-root" and not self.command:
            raise PvgpuError("a host-root VM needs a command to run: boot.command in the profile or --command")
        self._claim_run_dir()
        self.accel_choice = qemu.choose_accel(self.profile)
        self.accel = self.accel_choice.accel
        log.info("%s: accel %s", self.profile.name, self.accel_choice)
        self.kernel = qemu.boot_kernel(self.profile, self.accel)
        if self.kernel is not None:
            log.info("%s: kernel %s (%s entry: %s)", self.profile.name, self.kernel.path, self.kernel.entry,
                     self.kernel.reason)
        if self.profile.host_socket:
            if not os.path.exists(self.profile.host_socket):
                raise PvgpuError(f"pvgpu.host: no pvgpu host at {self.profile.host_socket} "
                                 f"(start `pvgpu serve --ivshmem {self.profile.host_socket}`)")
        else:
            from ..host.service import HostService
            self.host = HostService(self.paths.ivshmem, region_size=self.profile.region_size,
                                    presenters=self.presenters, transport="ivshmem", name=self.profile.name,
                                    input_sink=self.send_input, window=self.window).start()
        if self.profile.boot.source == "host-root":
            with open(os.path.join(self.paths.job, "run.sh"), "w") as f:
                # `pvgpu` in the guest is this host's pvgpu, run by this host's interpreter.
                shim = guest_python_command('"$@"')
                f.write(f"pvgpu() {{ {shim}; }}\n{self.command}\n")
        qemu.prepare_files(self.profile, self.paths)
        host_socket = self.profile.host_socket or self.paths.ivshmem
        cmd = qemu.build_command(self.profile, self.paths, self.accel, host_socket,
                                 self.kernel.path if self.kernel else None)
        log.info("starting %s", shlex.join(cmd))
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        with open(os.path.join(self.paths.run_dir, "qemu.pid"), "w") as f:
            f.write(str(self.process.pid))
        self._connect_qmp()
        if self.on_output and self.profile.boot.source == "host-root":
            self._follower = threading.Thread(target=self._follow_output, daemon=True)
            self._follower.start()
        return self

    def _claim_run_dir(self) -> None:
        pid_file = os.path.join(self.paths.run_dir, "qemu.pid")
        if os.path.exists(pid_file):
            try:
                with open(pid_file) as f:
                    pid = int(f.read().strip() or 0)
                os.kill(pid, 0)
                raise PvgpuError(f"a VM named {self.profile.name!r} is already running (QEMU pid {pid}, "
                                 f"{self.paths.run_dir})")
            except (ValueError, ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.paths.run_dir, ignore_errors=True)
        os.makedirs(self.paths.job)

    def _connect_qmp(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                out = self.process.stdout.read()
                raise PvgpuError(f"QEMU exited at start (code {self.process.returncode}): {out.strip()}")
            if os.path.exists(self.paths.qmp):
                try:
                    qmp = QEMUMonitorProtocol(self.paths.qmp)
                    qmp.connect()
                    qmp.settimeout(QMP_TIMEOUT_S)
                    with self._qmp_lock:
                        self.qmp = qmp
                    return
                except (OSError, Exception) as e:  # qemu.qmp raises its own errors while QEMU starts
                    last = e
            else:
                last = None
            if time.monotonic() > deadline:
                self.kill()
                raise PvgpuError(f"could not reach QEMU's QMP socket {self.paths.qmp}: {last}")
            time.sleep(0.05)

    def _follow_output(self) -> None:
        path = os.path.join(self.paths.job, "output.log")
        pos = 0
        while self.process and self.process.poll() is None:
            pos = self._emit_output(path, pos)
            time.sleep(0.2)
        self._emit_output(path, pos)

    def _emit_output(self, path: str, pos: int) -> int:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            return pos
        if data:
            self.on_output(data.decode("utf-8", "replace"))
        return pos + len(data)

    # --- running -----------------------------------------------------------------------------
    def _qmp_cmd(self, command: str, **arguments: object) -> object:
        """One QMP command (raises if there is no connection or QEMU answers with an error)."""
        with self._qmp_lock:
            if self.qmp is None:
                raise PvgpuError("QEMU's QMP connection is closed")
            return self.qmp.cmd(command, **arguments)

    def status(self) -> str:
        """QEMU's run state over QMP ('running', 'paused', 'shutdown', ...)."""
        try:
            return str(self._qmp_cmd("query-status")["status"])
        except Exception:
            return "stopped"

    def send_input(self, events: list[dict]) -> None:
        """Hand input events (QMP InputEvent dicts, see vm.input.qmp_events) to QEMU's
        keyboard and pointer devices. Safe from any thread; once the VM is gone (or while it
        starts) events are dropped and the failure is logged once."""
        if not events:
            return
        try:
            self._qmp_cmd("input-send-event", events=events)
        except ExecuteError as e:  # QEMU refused them, e.g. a key this QEMU version lacks
            self.input_refused += 1
            log.log(logging.WARNING if self.input_refused == 1 else logging.DEBUG,
                    "%s: QEMU refused input %s: %s", self.profile.name, events, e)
        except Exception as e:  # the VM stopped or is stopping: QMP is closed or gone
            if not self._input_lost:
                self._input_lost = True
                log.info("%s: viewer input dropped, the VM is not running (%s)", self.profile.name, e)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for QEMU to exit; returns its exit code (raises PvgpuError on timeout)."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise PvgpuError(f"the VM did not finish within {timeout:.0f} s; console: {self.console_tail()}") from None
        if self._follower:
            self._follower.join(5)
        return code

    def job_result(self) -> tuple[int | None, str]:
        """(exit code, output) of a host-root VM's command; exit code None if it never finished."""
        try:
            with open(os.path.join(self.paths.job, "output.log"), errors="replace") as f:
                output = f.read()
        except FileNotFoundError:
            output = ""
        try:
            with open(os.path.join(self.paths.job, "exit_code")) as f:
                return int(f.read().strip()), output
        except (FileNotFoundError, ValueError):
            return None, output

    def console_tail(self, lines: int = 15) -> str:
        try:
            with open(self.paths.console, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except FileNotFoundError:
            return "(no console output)"

    # --- stopping ------------------------------------------------------------------------------
    def stop(self, grace: float = 20.0) -> None:
        """Ask the guest to power off (ACPI), then quit QEMU, then kill it. A host-root guest
        runs no ACPI daemon, so it is quit over QMP at once."""
        if self.process is None or self.process.poll() is not None:
            return
        steps = [("quit", 5.0)]
        if self.profile.boot.source != "host-root":
            steps.insert(0, ("system_powerdown", grace))
        for command, wait in steps:
            try:
                self._qmp_cmd(command)
            except Exception:
                pass
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
        self.kill()

    def kill(self) -> None:
        """Kill QEMU at once (as a crash would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def close(self) -> None:
        self.stop()
        with self._qmp_lock:
            if self.qmp is not None:
                try:
                    self.qmp.close()
                except Exception:
                    pass
                self.qmp = None
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        if self.host is not None:
            self.host.stop()
            self.host = None
        try:
            os.unlink(os.path.join(self.paths.run_dir, "qemu.pid"))
        except FileNotFoundError:
            pass

    def __enter__(self) -> "VirtualMachine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["VirtualMachine", "guest_python_command", "initramfs"]
