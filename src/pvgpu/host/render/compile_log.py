"""Keeping a guest's bad shaders out of the host's log.

wgpu-native logs the validation error of a shader module or pipeline at ERROR through the
`wgpu` logger, and wgpu-py also raises it; the renderer reports it to the guest
(HOST_GPU_ERROR). A guest sending bad shaders in a loop would otherwise fill the host's log
(the fuzzer found it). While a thread compiles for a guest (`guest_compilation()`), records of
the `wgpu` logger are demoted to DEBUG: still there for a host run with debug logging, never
at the levels a host prints."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator

import wgpu  # first: wgpu makes the `wgpu` logger its own class, which a plain getLogger would preempt

_state = threading.local()


class _DemoteDuringGuestCompilation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_state, "depth", 0) and record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


wgpu.logger.addFilter(_DemoteDuringGuestCompilation())


@contextmanager
def guest_compilation() -> Iterator[None]:
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
