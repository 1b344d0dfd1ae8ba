"""Guest-side measurement programs, run in a guest process or inside a VM:

    python -m benchmarks.guest_tasks doorbell (--socket PATH | --device auto) [--count N]

prints one JSON line with the fence round trip (guest publishes a FENCE and rings the
doorbell, the host executes it and answers) in microseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pvgpu import guest as g


def doorbell_round_trip(device: g.Device, count: int) -> dict:
    conn = device.connection
    for _ in range(10):
        conn.wait_fence(conn.fence())
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        conn.wait_fence(conn.fence())
        samples.append((time.perf_counter() - start) * 1e6)
    return {"median_us": statistics.median(samples), "p90_us": sorted(samples)[int(count * 0.9)],
            "count": count}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["doorbell"])
    p.add_argument("--socket", default="")
    p.add_argument("--device", default="")
    p.add_argument("--count", type=int, default=500)
    args = p.parse_args()
    device = g.open_device(args.device) if args.device else g.connect(args.socket)
    try:
        print(json.dumps(doorbell_round_trip(device, args.count)), flush=True)
    finally:
        device.close()


if __name__ == "__main__":
    main()
