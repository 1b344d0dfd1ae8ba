"""What both fuzz targets share: atheris set-up, the seed corpus, findings and statistics.

`python -m fuzz.<target> [our options] [libFuzzer options] [corpus folders]`. Our options:
`--findings DIR` (where finding inputs are saved; default /tmp/pvgpu-fuzz-findings/<target>),
`--stats FILE` (a JSON file of the counters, rewritten after every input),
`--max-commands N` (stop once N records went through), `--stop-on-finding` (a finding is a
crash for libFuzzer, which saves the input and stops; by default it is saved and the run goes
on). Without a corpus folder the run writes new inputs to /tmp/pvgpu-fuzz-<target>-corpus
and reads the seeds of fuzz/corpus (never written). libFuzzer's own options (-runs=,
-max_total_time=, -seed=, -timeout=, ...) pass through.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import atheris

from .stream import Stream

SEEDS = os.path.join(os.path.dirname(__file__), "corpus")


def seed_streams() -> list[Stream]:
    out = []
    for name in sorted(os.listdir(SEEDS)):
        if name.endswith(".pvfz"):
            with open(os.path.join(SEEDS, name), "rb") as f:
                out.append(Stream.from_bytes(f.read()))
    return out


@dataclass
class Run:
    """Counters of one fuzzing process (the statistics file's content)."""

    target: str
    started: float = field(default_factory=time.monotonic)
    inputs: int = 0
    commands: int = 0  # records fed (by framing)
    executed: int = 0  # commands the session executed (session target)
    findings: int = 0
    finding_kinds: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        elapsed = time.monotonic() - self.started
        with open("/proc/self/status") as f:
            peak = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024
        return {"target": self.target, "inputs": self.inputs, "commands": self.commands, "executed": self.executed,
                "seconds": round(elapsed, 1), "commands_per_s": round(self.commands / elapsed, 1) if elapsed else 0,
                "findings": self.findings, "finding_kinds": self.finding_kinds, "peak_rss": peak, **self.extra}


class Driver:
    def __init__(self, target: str, argv: list[str]):
        self.target = target
        self.run = Run(target)
        self.findings_dir = f"/tmp/pvgpu-fuzz-findings/{target}"
        self.stats_path = ""
        self.max_commands = 0
        self.stop_on_finding = False
        self.lib_args: list[str] = []
        self._seen: set[str] = set()
        args = list(argv[1:])
        while args:
            a = args.pop(0)
            if a == "--findings":
                self.findings_dir = args.pop(0)
            elif a == "--stats":
                self.stats_path = args.pop(0)
            elif a == "--max-commands":
                self.max_commands = int(args.pop(0))
            elif a == "--stop-on-finding":
                self.stop_on_finding = True
            else:
                self.lib_args.append(a)
        if not any(not a.startswith("-") for a in self.lib_args):
            work = f"/tmp/pvgpu-fuzz-{target}-corpus"
            os.makedirs(work, exist_ok=True)
            self.lib_args += [work, SEEDS]
        if not any(a.startswith("-max_len=") for a in self.lib_args):
            self.lib_args.append("-max_len=131072")
        if not any(a.startswith("-artifact_prefix=") for a in self.lib_args):  # not the working folder
            os.makedirs(self.findings_dir, exist_ok=True)
            self.lib_args.append(f"-artifact_prefix={self.findings_dir}/")

    def finding(self, kind: str, detail: str, data: bytes) -> None:
        """Save a finding's input (once per kind and message shape) and count it."""
        self.run.findings += 1
        self.run.finding_kinds[kind] = self.run.finding_kinds.get(kind, 0) + 1
        shape = kind + ":" + re.sub(r"\d+", "N", detail)[:200]
        if shape not in self._seen:
            self._seen.add(shape)
            os.makedirs(self.findings_dir, exist_ok=True)
            name = f"{kind}-{hashlib.sha1(data).hexdigest()[:12]}"
            with open(os.path.join(self.findings_dir, name + ".pvfz"), "wb") as f:
                f.write(data)
            with open(os.path.join(self.findings_dir, name + ".txt"), "w") as f:
                f.write(f"{kind}: {detail}\n")
            print(f"FINDING {kind}: {detail[:300]} -> {name}", file=sys.stderr, flush=True)
        if self.stop_on_finding:
            self.write_stats()
            raise RuntimeError(f"{kind}: {detail}")

    def counted(self, commands: int, executed: int = 0) -> None:
        r = self.run
        r.inputs += 1
        r.commands += commands
        r.executed += executed
        self.write_stats()  # every input: libFuzzer ends the process without Python's exit handlers
        if self.max_commands and r.commands >= self.max_commands:
            self.write_stats()
            print(f"DONE {r.commands} commands in {r.inputs} inputs", file=sys.stderr, flush=True)
            sys.stderr.flush()
            os._exit(0)

    def write_stats(self) -> None:
        if not self.stats_path:
            return
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.run.as_dict(), f)
        os.replace(tmp, self.stats_path)

    def fuzz(self, one_input: Callable[[bytes], None], mutator=None) -> None:
        kwargs = {}
        if mutator is not None:
            kwargs = {"custom_mutator": mutator.mutate, "custom_crossover": mutator.crossover}
        atheris.Setup([sys.argv[0]] + self.lib_args, one_input, **kwargs)
        atheris.Fuzz()


def raw_mutator(data: bytes, max_size: int) -> bytes:
    return atheris.Mutate(data, max_size)
