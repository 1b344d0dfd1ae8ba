"""`pvgpu bench`: prints a table of ratios measured side by side in one run."""

from __future__ import annotations

import platform

from pvgpu.host import gpu

from . import dispatch_cost, draw_cost, frame_time, game_frame, ring_throughput, shader_translation
from . import gpu_bound


def _row(name: str, value: str, baseline: str, ratio: str) -> str:
    return f"| {name:<34} | {value:>16} | {baseline:>16} | {ratio:>8} |"


def main(quick: bool = False, frames: int = 200, size: tuple[int, int] = (640, 480), vm: bool = True) -> int:
    count = 20_000 if quick else 200_000
    frames = min(frames, 20) if quick else frames
    width, height = size
    print(f"machine: {platform.node()} {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}; adapter: {gpu.describe_adapter()}")
    two = ring_throughput.two_processes(count)
    one = ring_throughput.one_process(count)
    pv = frame_time.pvgpu_frame_time(frames, width, height)
    direct = frame_time.direct_frame_time(frames, width, height)
    ratio = pv["frame_s"] / direct
    hits, misses = pv["pipeline_hits"], pv["pipeline_misses"]
    print(_row("measurement", "pvgpu", "baseline", "ratio"))
    print("|" + "-" * 36 + "|" + "-" * 18 + "|" + "-" * 18 + "|" + "-" * 10 + "|")
    print(_row("ring: commands/s, 2 processes", f"{two:,.0f}", f"{one:,.0f} (1 proc)", f"{two / one:.2f}"))
    print(_row(f"frame time {width}x{height}, ms", f"{pv['frame_s'] * 1e3:.3f}", f"{direct * 1e3:.3f} (direct)",
               f"{ratio:.2f}"))
    print(_row("first frame incl. connect, ms", f"{pv['first_frame_s'] * 1e3:.1f}", "", ""))
    print(_row("pipeline cache hit rate", f"{hits / max(1, hits + misses):.4f}", f"{hits}/{hits + misses}", ""))
    d = draw_cost.measure(frames=5 if quick else 20, draws=1000)
    print(_row("per draw with state changes, us", f"{d['pvgpu_us']:.1f}", f"{d['direct_us']:.1f} (direct)",
               f"{d['pvgpu_us'] / d['direct_us']:.2f}"))
    print(_row("  its pipeline cache hit rate", f"{d['hits'] / max(1, d['hits'] + d['misses']):.4f}",
               f"{d['hits']}/{d['hits'] + d['misses']}", ""))
    print(_row("  the same with DXBC shaders, us", f"{d['pvgpu_dxbc_us']:.1f}", f"{d['pvgpu_us']:.1f} (WGSL)",
               f"{d['pvgpu_dxbc_us'] / d['pvgpu_us']:.2f}"))
    c = dispatch_cost.measure(batches=5 if quick else 20, dispatches=1000)
    print(_row("per dispatch with state changes, us", f"{c['pvgpu_us']:.1f}", f"{c['direct_us']:.1f} (direct)",
               f"{c['pvgpu_us'] / c['direct_us']:.2f}"))
    game = game_frame.measure(frames=8 if quick else 30, rate_draws=10_000 if quick else 40_000)  # issue 9
    for game_row in game_frame.rows(game):
        print(_row(*game_row))
    heavy = (gpu_bound.measure(frames=5, size=(512, 512), iterations=64) if quick  # issue 9: GPU-bound scene
             else gpu_bound.measure(frames=60, size=(3840, 2160), iterations=gpu_bound.ITERATIONS))
    for heavy_row in gpu_bound.rows(heavy):
        print(_row(*heavy_row))
    shaders = shader_translation.measure(quick=quick)  # issue 8: DXBC translation, None without the corpora
    for shader_row in shader_translation.rows(shaders) if shaders else ():
        print(_row(*shader_row))
    if vm:
        from . import vm as vm_bench
        v = vm_bench.measure(min(frames, 30) if quick else min(frames, 60), width, height)
        print(_row(f"VM ({v['accel']}): boot to first frame, s", f"{v['boot_to_first_frame_s']:.2f}", "", ""))
        print(_row(f"frame time in VM vs local, ms", f"{v['vm_frame_s'] * 1e3:.2f}",
                   f"{v['local_frame_s'] * 1e3:.2f} (local)", f"{v['vm_frame_s'] / v['local_frame_s']:.2f}"))
        print(_row("doorbell+fence round trip, us", f"{v['vm_doorbell']['median_us']:.0f} (VM)",
                   f"{v['local_doorbell']['median_us']:.0f} (local)",
                   f"{v['vm_doorbell']['median_us'] / v['local_doorbell']['median_us']:.2f}"))
    print("\n".join(shader_translation.notes(shaders)) if shaders else
          f"DXBC shader rows skipped: no corpora at {shader_translation.corpus_root()}")
    print(f"host errors during the run: {pv['errors']}")
    print(f"pvgpu/direct frame-time ratio: {ratio:.2f}")
    return 0
