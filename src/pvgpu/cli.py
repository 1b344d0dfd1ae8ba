"""The `pvgpu` command."""

from __future__ import annotations

import argparse
import logging
import os
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
        guest_cube.run(args.socket, args.frames, width, height)
        return 0

    from .demo.progress import ProgressReporter
    from .host import gpu
    from .host.present.headless import PngWriter
    from .host.service import HostService

    presenters = []
    png = None
    if args.out:
        png = PngWriter(args.out)
        presenters.append(png)
    progress = ProgressReporter(args.frames)
    presenters.append(progress)
    print(f"pvgpu demo: {args.frames} frames of {width}x{height} on {gpu.describe_adapter()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pvgpu-") as tmp:
        socket_path = os.path.join(tmp, "host.sock")
        started = time.perf_counter()
        with HostService(socket_path, region_size=args.region_size, presenters=presenters) as service:
            guest = subprocess.run(
                [sys.executable, "-m", "pvgpu.cli", "demo", "--guest-only", "--socket", socket_path,
                 "--frames", str(args.frames), "--size", f"{width}x{height}"],
                stderr=subprocess.PIPE, text=True)
            errors = sum(r.session.total_errors for r in service.sessions.values())
        progress.close()
        if png:
            png.close()
    elapsed = time.perf_counter() - started
    if guest.returncode != 0:
        raise PvgpuError(f"the guest process failed (exit {guest.returncode}):\n{guest.stderr.strip()}")
    where = f" to {args.out}/frame_0000.png .. frame_{args.frames - 1:04d}.png" if args.out else ""
    print(f"pvgpu demo: {progress.count} frames{where} in {elapsed:.1f} s "
          f"({progress.fps:.1f} fps after start-up), {errors} host errors", file=sys.stderr)
    return 0 if errors == 0 and progress.count == args.frames else 1


def cmd_serve(args: argparse.Namespace) -> int:
    from .host.present.headless import PngWriter
    from .host.service import HostService

    presenters = [PngWriter(args.out, per_session=True)] if args.out else []
    service = HostService(args.socket, region_size=args.region_size, presenters=presenters).start()
    print(f"pvgpu serve: listening on {args.socket} (Ctrl-C stops)", file=sys.stderr)
    try:
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        for p in presenters:
            p.close()
    return 0


def cmd_header(args: argparse.Namespace) -> int:
    from .protocol.cheader import generate_c_header
    sys.stdout.write(generate_c_header())
    return 0


def cmd_protocol_doc(args: argparse.Namespace) -> int:
    from .protocol.docpage import generate_protocol_doc
    sys.stdout.write(generate_protocol_doc())
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
    return bench_main(quick=args.quick, frames=args.frames, size=args.size)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pvgpu", description="A paravirtual GPU: D3D11-style commands from a guest, "
                                                          "executed by the host on wgpu.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the host does")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="render a rotating textured cube through the whole guest->host path")
    d.add_argument("--frames", type=int, default=120, help="frames to render (default 120)")
    d.add_argument("--out", default="pvgpu-frames", help="folder for frame_NNNN.png (default pvgpu-frames; "
                                                         "'' writes none)")
    d.add_argument("--size", type=parse_size, default=(640, 480), help="WIDTHxHEIGHT (default 640x480)")
    d.add_argument("--region-size", type=parse_bytes, default="64M", help="shared region size (default 64M)")
    d.add_argument("--guest-only", action="store_true", help="run only the guest half against --socket")
    d.add_argument("--socket", default=DEFAULT_SOCKET, help="host socket for --guest-only")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="run the host service for local guests")
    s.add_argument("--socket", default=DEFAULT_SOCKET, help=f"UNIX socket to listen on (default {DEFAULT_SOCKET})")
    s.add_argument("--out", default="", help="write presented frames to OUT/session-N/frame_NNNN.png")
    s.add_argument("--region-size", type=parse_bytes, default="256M", help="shared region per guest (default 256M)")
    s.set_defaults(func=cmd_serve)

    h = sub.add_parser("header", help="print the C header generated from the protocol spec")
    h.set_defaults(func=cmd_header)
    pd = sub.add_parser("protocol-doc", help="print the protocol reference page (docs/protocol.md)")
    pd.set_defaults(func=cmd_protocol_doc)

    b = sub.add_parser("bench", help="measure ring throughput and frame time against direct wgpu")
    b.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    b.add_argument("--frames", type=int, default=200, help="frames per frame-time measurement (default 200)")
    b.add_argument("--size", type=parse_size, default=(640, 480), help="frame size (default 640x480)")
    b.set_defaults(func=cmd_bench)
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
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
