"""Fuzz target (a): the protocol decoder and validator (`codec.decode` of every record).

Each batch of the input is walked as the host walks it. A record must decode or be refused
with a `DecodeError` carrying a real error code and a message; nothing else may be raised.
A record that decodes must encode back to a record that decodes to the same command.
`python -m fuzz.decoder -max_total_time=60` (see fuzz/target.py for the options).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pvgpu"]):
    from pvgpu.protocol import codec
    from pvgpu.protocol.enums import ErrorCode

from .mutate import Mutator
from .stream import BATCH, Stream
from .target import Driver, raw_mutator, seed_streams

_FRAMING = (ErrorCode.TRUNCATED_RECORD, ErrorCode.BAD_FRAMING)


def check_batch(batch: bytes) -> tuple[int, str]:
    """Decode every record of a batch; returns (records seen, the first broken rule or "")."""
    n, off, seen = len(batch), 0, 0
    while off < n:
        seen += 1
        try:
            seq, cmd, size = codec.decode(batch, off, n - off)
        except codec.DecodeError as e:
            if not isinstance(e.code, ErrorCode) or not e.detail:
                return seen, f"a DecodeError without a code or message: {e.code!r} {e.detail!r}"
            if e.code in _FRAMING:
                break
            off += codec.read_header(batch, off)[2]
            continue
        except Exception as e:  # noqa: BLE001
            return seen, f"decode raised {type(e).__name__}: {e}"
        if cmd is not None:
            again = codec.encode(cmd, seq)
            if len(again) != size:
                return seen, f"{type(cmd).__name__}: re-encoded to {len(again)} bytes, the record had {size}"
            if codec.decode(again)[1] != cmd:
                return seen, f"{type(cmd).__name__}: does not decode to itself after re-encoding"
        off += size
    return seen, ""


def main() -> None:
    driver = Driver("decoder", sys.argv)

    def one_input(data: bytes) -> None:
        stream = Stream.from_bytes(data)
        total = 0
        for kind, _, batch in stream.items:
            if kind != BATCH:
                continue
            seen, broken = check_batch(batch)
            total += seen
            if broken:
                driver.finding("decoder", broken, data)
                break
        driver.counted(total)

    driver.fuzz(one_input, Mutator(seed_streams(), raw_mutator))


if __name__ == "__main__":
    main()
