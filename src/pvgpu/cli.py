"""The `pvgpu` command."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time

from .errors import PvgpuError

DEFAULT_SOCKET = os.path.join(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir(), "pvgpu.sock")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 640x480)") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be 1..16384")
    return w, h


def parse_bytes(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 256M, 1G, 65536)") from None


def cmd_demo(args: argparse.Namespace) -> int:
    width, height = args.size
    if args.guest_only:
        from .demo import guest_cube
        if args.device:
            guest_cube.run_on_device(args.device, args.frames, width, height, shaders=args.shaders)
        else:
            guest_cube.run(args.socket, args.frames, width, height, shaders=args.shaders)
        return 0

    previous = _interrupt_on_signals()
    try:
        return _run_demo(args, width, height)
    finally:
        _restore_signals(previous)


def _run_demo(args: argparse.Namespace, width: int, height: int) -> int:
    from .demo.progress import ProgressReporter
    from .host import gpu
    from .host.service import HostService

    presentation = _presentation(args, default_png="pvgpu-frames", per_session=False)
    progress = ProgressReporter(args.frames)
    presentation.presenters.append(progress)
    print(f"pvgpu demo: {args.frames} frames of {width}x{height} ({args.shaders.upper()} shaders) on "
          f"{gpu.describe_adapter()}", file=sys.stderr)
    for line in presentation.describe():
        print(f"pvgpu demo: {line}", file=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix="pvgpu-") as tmp:
            socket_path = os.path.join(tmp, "host.sock")
            started = time.perf_counter()
            with HostService(socket_path, region_size=args.region_size, name="pvgpu demo",
                             **presentation.service_options()) as service:
                guest = subprocess.run(
                    [sys.executable, "-m", "pvgpu.cli", "demo", "--guest-only", "--socket", socket_path,
                     "--frames", str(args.frames), "--size", f"{width}x{height}", "--shaders", args.shaders],
                    stderr=subprocess.PIPE, text=True)
                errors = sum(r.stats.errors for r in service.sessions.values())
            progress.close()
    finally:
        presentation.presenters.remove(progress)
        presentation.close()
    elapsed = time.perf_counter() - started
    if guest.returncode != 0:
        raise PvgpuError(f"the guest process failed (exit {guest.returncode}):\n{guest.stderr.strip()}")
    png = [spec.path for spec in presentation.specs if spec.kind == "png"]
    where = f" to {png[0]}/frame_0000.png .. frame_{args.frames - 1:04d}.png" if png else ""
    print(f"pvgpu demo: {progress.count} frames{where} in {elapsed:.1f} s "
          f"({progress.fps:.1f} fps after start-up), {errors} host errors", file=sys.stderr)
    dropped = {name: n for name, n in presentation.drops().items() if n}
    if dropped:
        print("pvgpu demo: frames dropped by slow presenters: " +
              ", ".join(f"{name} {n}" for name, n in dropped.items()), file=sys.stderr)
    return 0 if errors == 0 and progress.count == args.frames else 1


def _presentation(args: argparse.Namespace, default_png: str | None, per_session: bool, extra: list[str] = ()):
    """The presenters `--present` (and the older `--out DIR`, the same as png:DIR) ask for."""
    from .host.present.build import build_presentation
    from .host.present.spec import parse_presents

    texts = list(extra) + list(args.present or [])
    out = args.out if args.out is not None else (default_png if not texts else None)
    if out and not any(t.split(":", 1)[0].strip().lower() == "png" for t in texts):
        texts.append(f"png:{out}")
    return build_presentation(parse_presents(texts), per_session=per_session,
                              web_token=getattr(args, "web_token", None))


def _interrupt_on_signals() -> dict:
    """SIGTERM, and SIGINT even where it was ignored at start (a background job), raise
    KeyboardInterrupt in the main thread as Ctrl-C does, so that `pvgpu demo` and `pvgpu vm run`
    clean up on their usual path. Returns the previous handlers for `_restore_signals`."""
    def interrupt(signum: int, frame) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)
    return {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}


def _interrupt_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal behind a KeyboardInterrupt (SIGINT for a plain Ctrl-C)."""
    name = interrupt.args[0] if interrupt.args and isinstance(interrupt.args[0], str) else "SIGINT"
    return 128 + int(getattr(signal.Signals, name, signal.SIGINT))


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


class _StopSignals:
    """SIGINT and SIGTERM for `pvgpu serve`, whatever their disposition at start (a shell
    starts background jobs with SIGINT ignored, and Python then leaves it ignored): the first
    asks for an orderly stop (the main loop sees `signum`), a second one during the stop kills
    the workers, removes what it can at once and exits with 128 + the signal's number.

    The handlers only set a number and, for the second signal, call `HostService.abort`, which
    takes no locks (a handler runs in the main thread, between any two of its bytecodes)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, prog: str):
        self.prog = prog
        self.signum = 0
        self.services: list = []
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum: int, frame) -> None:
        if not self.signum:
            self.signum = signum
            return
        # os.write, not print: the main thread may be inside a write to stderr (a reentrant
        # print would raise before the exit)
        os.write(2, f"{self.prog}: {signal.Signals(signum).name} again: stopping at once\n".encode())
        for service in list(self.services):
            try:
                service.abort()
            except Exception as e:  # remove what can be removed; the exit comes regardless
                os.write(2, f"{self.prog}: while stopping at once: {e}\n".encode())
        os._exit(128 + signum)

    def sleep(self) -> None:
        """Return once a stop has been asked for."""
        while not self.signum:
            time.sleep(0.2)  # not an Event: setting one from a handler could deadlock its wait

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def cmd_serve(args: argparse.Namespace) -> int:
    from .host.service import HostService

    stop = _StopSignals("pvgpu serve")
    presentation = None
    services = stop.services
    try:
        presentation = _presentation(args, default_png=None, per_session=True)
        options = presentation.service_options()
        listeners = []
        if args.ivshmem:
            listeners.append((args.ivshmem, "ivshmem", "QEMU ivshmem-doorbell devices"))
        if args.socket or not args.ivshmem:
            listeners.append((args.socket or DEFAULT_SOCKET, "local", "local guests"))
        for path, transport, who in listeners:
            if stop.signum:
                break
            service = HostService(path, region_size=args.region_size, transport=transport,
                                  watchdog_s=args.watchdog, max_objects=args.max_objects,
                                  max_gpu_bytes=args.gpu_memory, **options)
            services.append(service)
            service.start()
            print(f"pvgpu serve: {who} connect to {path}", file=sys.stderr)
        if not stop.signum:
            for line in presentation.describe():
                print(f"pvgpu serve: {line}", file=sys.stderr)
            print("pvgpu serve: Ctrl-C (SIGINT) or SIGTERM stops", file=sys.stderr)
        stop.sleep()
    finally:
        for service in services:  # all at once: their workers finish side by side
            service.begin_stop()
        for service in services:
            service.stop()
        if presentation is not None:
            presentation.close()
        stop.restore()
    sessions = sum(s.sessions_served for s in services)
    print(f"pvgpu serve: stopped on {signal.Signals(stop.signum).name}: {sessions} guest session(s) served, "
          f"workers ended, sockets and shared files removed", file=sys.stderr)
    return 0


def cmd_vm(args: argparse.Namespace) -> int:
    from .vm.launcher import VirtualMachine
    from .vm.profile import load_profile

    profile = load_profile(args.profile)
    if args.vm_command == "print":
        import shlex
        vm = VirtualMachine(profile, command=args.command)
        from .vm.qemu import choose_accel
        print(f"# accel: {choose_accel(profile)}", file=sys.stderr)
        print(shlex.join(vm.command_line()))
        return 0
    if args.out is None and profile.frames_out:
        args.out = profile.frames_out
    presentation = _presentation(args, default_png=None, per_session=True, extra=profile.present)
    vm = VirtualMachine(profile, command=args.command, presenters=presentation.presenters, window=presentation.window,
                        on_output=lambda text: (sys.stderr.write(text), sys.stderr.flush()))
    previous = _interrupt_on_signals()
    try:
        vm.start()
        print(f"pvgpu vm: accel: {vm.accel_choice}", file=sys.stderr)
        if vm.kernel:
            print(f"pvgpu vm: kernel: {vm.kernel.path} ({vm.kernel.entry}: {vm.kernel.reason})", file=sys.stderr)
        print(f"pvgpu vm: {profile.name} running (QMP {vm.paths.qmp}); Ctrl-C stops it", file=sys.stderr)
        for line in presentation.describe():
            print(f"pvgpu vm: {line}", file=sys.stderr)
        code = vm.wait(args.timeout)
    except KeyboardInterrupt as e:
        print("pvgpu vm: stopping", file=sys.stderr)
        vm.stop()
        code = _interrupt_code(e)
    finally:
        vm.close()
        presentation.close()
        _restore_signals(previous)
    if profile.boot.source == "host-root":
        job_code, _ = vm.job_result()
        if job_code is None:
            raise PvgpuError(f"the guest command did not finish; console:\n{vm.console_tail()}")
        return job_code
    return code


def cmd_header(args: argparse.Namespace) -> int:
    from .protocol.cheader import generate_c_header
    sys.stdout.write(generate_c_header())
    return 0


def cmd_protocol_doc(args: argparse.Namespace) -> int:
    from .protocol.docpage import generate_protocol_doc
    sys.stdout.write(generate_protocol_doc())
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    from .host import gpu
    from .protocol.enums import FORMAT_BYTES, DxgiFormat, FormatSupport

    table = gpu.format_table()
    columns = [(f, f.name.lower().replace("_", "-")) for f in FormatSupport]
    print(f"DXGI formats on {gpu.describe_adapter()} (Y: pvgpu offers it; bytes per element or 4x4 block)")
    print(f"{'value':>5} {'format':<28} {'bytes':>5}  " + " ".join(name for _, name in columns))
    for fmt in DxgiFormat:
        bits = table.get(fmt, 0)
        if args.supported and not bits:
            continue
        cells = " ".join(("Y" if bits & flag else "-").center(len(name)) for flag, name in columns)
        print(f"{int(fmt):>5} {fmt.name:<28} {FORMAT_BYTES.get(fmt, 0) or '':>5}  {cells}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        from benchmarks.run import main as bench_main
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
        try:
            from benchmarks.run import main as bench_main
        except ImportError:
            raise PvgpuError("the benchmarks/ folder is not next to this pvgpu; run `pvgpu bench` from a "
                             "source checkout (pip install -e .)") from None
    return bench_main(quick=args.quick, frames=args.frames, size=args.size, vm=not args.no_vm)


# --- pvgpu shader (issue 8: DXBC tools; the code is in cli_shader.py) ---------------------------
def cmd_shader(args: argparse.Namespace) -> int:
    from . import cli_shader
    return cli_shader.main(args)
# --- end pvgpu shader -----------------------------------------------------------------------------


PRESENT_HELP = ("where frames go; repeat to combine: png:DIR, window[:novsync], web[:[HOST:]PORT] "
                "(the browser viewer, default 127.0.0.1:8470), record:FILE.mp4")
WEB_TOKEN_HELP = ("the token a browser must give the web viewer (also PVGPU_WEB_TOKEN); needed to bind "
                  "web: to an address other than 127.0.0.1")


def cmd_top(args: argparse.Namespace) -> int:
    from . import cli_top
    return cli_top.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pvgpu", description="A paravirtual GPU: D3D11-style commands from a guest, "
                                                          "executed by the host on wgpu.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the host does")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="render a rotating textured cube through the whole guest->host path")
    d.add_argument("--frames", type=int, default=120, help="frames to render (default 120)")
    d.add_argument("--out", default=None, help="folder for frame_NNNN.png, the same as --present png:OUT "
                                               "(default pvgpu-frames when no --present is given; '' writes none)")
    d.add_argument("--present", action="append", metavar="WHERE", help=PRESENT_HELP)
    d.add_argument("--web-token", default=None, help=WEB_TOKEN_HELP)
    d.add_argument("--size", type=parse_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    d.add_argument("--region-size", type=parse_bytes, default="64M", help="shared region size (default 64M)")
    d.add_argument("--shaders", choices=("wgsl", "dxbc"), default="wgsl",
                   help="the cube's shaders as WGSL source or as DXBC bytecode the host translates (default wgsl)")
    d.add_argument("--guest-only", action="store_true", help="run only the guest half against --socket")
    d.add_argument("--socket", default=DEFAULT_SOCKET, help="host socket for --guest-only")
    d.add_argument("--device", default="", help="with --guest-only inside a VM: the ivshmem PCI device "
                                                 "('auto', a PCI address or a sysfs folder)")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="run the host service for local guests")
    s.add_argument("--socket", default="", help=f"UNIX socket for local guests (default {DEFAULT_SOCKET} "
                                                 f"unless only --ivshmem is given)")
    s.add_argument("--ivshmem", default="", help="UNIX socket for QEMU's ivshmem-doorbell devices (VM guests)")
    s.add_argument("--out", default=None, help="write presented frames to OUT/session-N/frame_NNNN.png "
                                               "(the same as --present png:OUT)")
    s.add_argument("--present", action="append", metavar="WHERE", help=PRESENT_HELP)
    s.add_argument("--web-token", default=None, help=WEB_TOKEN_HELP)
    s.add_argument("--region-size", type=parse_bytes, default="256M", help="shared region per guest (default 256M)")
    s.add_argument("--watchdog", type=float, default=20.0,
                   help="seconds a guest's GPU work may run before its device is lost (default 20)")
    s.add_argument("--gpu-memory", type=parse_bytes, default=None, metavar="SIZE",
                   help="GPU memory each guest may keep alive, e.g. 512M (default 2G); beyond it: QUOTA")
    s.add_argument("--max-objects", type=int, default=None, metavar="N",
                   help="live objects each guest may hold (default 65536); beyond it: QUOTA")
    s.set_defaults(func=cmd_serve)

    v = sub.add_parser("vm", help="run a QEMU VM with the pvgpu device (see examples/vm-profile.toml)")
    vsub = v.add_subparsers(dest="vm_command", required=True)
    vr = vsub.add_parser("run", help="start the VM, wired to a pvgpu host, and wait for it")
    vp = vsub.add_parser("print", help="print the QEMU command line the profile gives")
    for sp in (vr, vp):
        sp.add_argument("profile", help="the VM profile (TOML)")
        sp.add_argument("--command", default=None, help="host-root boot: the shell command to run in the guest "
                                                        "(default: boot.command)")
    vr.add_argument("--out", default=None, help="write frames the guest presents to OUT/session-N/ "
                                                "(the same as --present png:OUT; default: the profile's frames_out)")
    vr.add_argument("--present", action="append", metavar="WHERE",
                    help=PRESENT_HELP + "; added to the profile's pvgpu.present")
    vr.add_argument("--web-token", default=None, help=WEB_TOKEN_HELP)
    vr.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    v.set_defaults(func=cmd_vm)

    f = sub.add_parser("formats", help="every DXGI format and what this host can do with it")
    f.add_argument("--supported", action="store_true", help="only the formats this host offers something for")
    f.set_defaults(func=cmd_formats)

    h = sub.add_parser("header", help="print the C header generated from the protocol spec")
    h.set_defaults(func=cmd_header)
    pd = sub.add_parser("protocol-doc", help="print the protocol reference page (docs/protocol.md)")
    pd.set_defaults(func=cmd_protocol_doc)

    b = sub.add_parser("bench", help="measure ring throughput and frame time against direct wgpu")
    b.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    b.add_argument("--frames", type=int, default=200, help="frames per frame-time measurement (default 200)")
    b.add_argument("--size", type=parse_size, default=(640, 480), help="frame size (default 640x480)")
    b.add_argument("--no-vm", action="store_true", help="skip the VM measurements (they boot QEMU guests)")
    b.set_defaults(func=cmd_bench)

    from .cli_shader import add_parser as add_shader_parser  # pvgpu shader (issue 8)
    add_shader_parser(sub, cmd_shader)
    from .cli_top import add_parser as add_top_parser  # pvgpu top (issue 10)
    add_top_parser(sub, cmd_top)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(name)s: %(message)s")
    if getattr(args, "frames", 1) is not None and getattr(args, "frames", 1) < 1:
        print("pvgpu: error: --frames must be at least 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except PvgpuError as e:
        print(f"pvgpu: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return _interrupt_code(e)
    except BrokenPipeError:  # `pvgpu formats | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
