"""Shrink a session finding's input while the same finding (kind and message shape) remains.

`python -m fuzz.minimize FINDING.pvfz [--out SMALL.pvfz]`: drops items, then runs of records
(halves, quarters, ... down to single records), then heap bytes. Every trial runs in a fresh
session, so what an earlier trial left in caches does not decide the next.
"""

from __future__ import annotations

import argparse
import re
import sys

from .harness import Finding, FuzzHost
from .stream import BATCH, HEAP, Stream, split_records


def _shape(f: Finding | None) -> str | None:
    return None if f is None else f.kind + ":" + re.sub(r"\d+", "N", f.detail)[:120]


class Minimizer:
    def __init__(self, host: FuzzHost | None = None):
        self.host = host or FuzzHost(fresh_every=1)
        self.trials = 0

    def finding(self, stream: Stream) -> Finding | None:
        self.trials += 1
        try:
            self.host.run(stream)
        except Finding as f:
            self.host._since_fresh = self.host.fresh_every
            return f
        return None

    def minimize(self, stream: Stream) -> tuple[Stream, Finding]:
        found = self.finding(stream)
        if found is None:
            raise ValueError("the input shows no finding")
        want = _shape(found)

        def same(items: list) -> bool:
            return _shape(self.finding(Stream(list(items)))) == want

        items = list(stream.items)
        items = self._ddmin(items, same)
        # records inside each batch
        i = 0
        while i < len(items):
            kind, off, data = items[i]
            if kind == BATCH:
                recs = split_records(data)

                def same_recs(rs: list, i=i) -> bool:
                    trial = list(items)
                    trial[i] = (BATCH, 0, b"".join(rs))
                    return same(trial)

                items[i] = (BATCH, 0, b"".join(self._ddmin(recs, same_recs)))
            elif kind == HEAP and len(data) > 16:
                trial = list(items)
                trial[i] = (HEAP, off, data[:16])
                if same(trial):
                    items = trial
            i += 1
        small = Stream(items)
        return small, self.finding(small)

    @staticmethod
    def _ddmin(parts: list, same) -> list:
        """Remove chunks (halves first) while `same` holds for what is left."""
        n = 2
        while len(parts) >= 2 and n <= 2 * len(parts):
            size = max(1, len(parts) // n)
            removed = False
            start = len(parts) - size
            while start >= 0:
                trial = parts[:start] + parts[start + size:]
                if trial and same(trial):
                    parts = trial
                    removed = True
                start -= size
            if not removed:
                if size == 1:
                    break
                n *= 2
        return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("--out", help="where the small input goes (default: INPUT.min.pvfz)")
    args = ap.parse_args(argv)
    with open(args.input, "rb") as f:
        stream = Stream.from_bytes(f.read())
    m = Minimizer()
    small, found = m.minimize(stream)
    out = args.out or args.input.removesuffix(".pvfz") + ".min.pvfz"
    with open(out, "wb") as f:
        f.write(small.to_bytes())
    print(f"{len(stream.to_bytes())} -> {len(small.to_bytes())} bytes in {m.trials} trials: {found}\n{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
