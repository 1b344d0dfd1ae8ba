"""A sized fuzz run of both targets, and its summary table.

`python -m fuzz.run --seconds 600 --decoder-commands 10000000` runs `fuzz.session` for the
given time and `fuzz.decoder` until it has decoded the given number of commands (both at
once, at low priority), then prints the table. `python -m fuzz.run --summary LOG STATS
[LOG STATS ...]` prints the table of runs made before (a target's stderr log and its
`--stats` file). Columns: inputs, commands (records fed), of them executed by the session,
commands/s, libFuzzer's coverage counters (cov: edges, ft: features) at the end, findings,
peak RSS of the fuzzing process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def summarize(log_path: str, stats_path: str) -> dict:
    with open(stats_path) as f:
        st = json.load(f)
    with open(log_path, errors="replace") as f:
        text = f.read()
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    st["cov"], st["ft"] = (int(cov[-1][0]), int(cov[-1][1])) if cov else (0, 0)
    return st


def table(rows: list[dict]) -> str:
    head = ("target", "inputs", "commands", "executed", "commands/s", "cov", "ft", "findings", "peak RSS")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.get("finding_kinds", {}).items()))
        cells = (r["target"], f"{r['inputs']:,}", f"{r['commands']:,}",
                 f"{r['executed']:,}" if r["target"] == "session" else "-",
                 f"{r['commands_per_s']:,.0f}", str(r["cov"]), str(r["ft"]),
                 f"{r['findings']}" + (f" ({kinds})" if kinds else ""), f"{r['peak_rss'] / 2**20:.0f} MiB")
        lines.append("| " + " | ".join(cells) + " |")
    total = sum(r["commands"] for r in rows)
    lines.append(f"\n{total:,} commands in all; " + "; ".join(f"{r['target']}: {r['seconds']:.0f} s" for r in rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=600, help="time for the session target")
    ap.add_argument("--decoder-commands", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--summary", nargs="+", metavar="FILE", help="LOG STATS pairs of earlier runs")
    args = ap.parse_args(argv)
    if args.summary:
        pairs = list(zip(args.summary[::2], args.summary[1::2]))
        print(table([summarize(log, stats) for log, stats in pairs]))
        return 0
    work = tempfile.mkdtemp(prefix="pvgpu-fuzz-run-")
    procs = []
    for target, extra in (("session", [f"-max_total_time={args.seconds}", "--fresh-every", "50"]),
                          ("decoder", ["--max-commands", str(args.decoder_commands)])):
        log, stats = os.path.join(work, f"{target}.log"), os.path.join(work, f"{target}.json")
        corpus = os.path.join(work, f"{target}-corpus")
        os.makedirs(corpus)
        cmd = ["nice", "-n", "10", sys.executable, "-m", f"fuzz.{target}", f"-seed={args.seed}", "-timeout=180",
               "--stats", stats, "--findings", os.path.join(work, f"{target}-findings"), *extra,
               corpus, os.path.join(os.path.dirname(__file__), "corpus")]
        procs.append((subprocess.Popen(cmd, stderr=open(log, "w"), stdout=subprocess.DEVNULL), log, stats))
    for p, _, _ in procs:
        p.wait()
    print(table([summarize(log, stats) for _, log, stats in procs]))
    print(f"logs, statistics and findings: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
