"""Headless presenters: PNG files and frame callbacks."""

from __future__ import annotations

import os
import threading
from typing import Callable

from PIL import Image

from ...errors import PvgpuError
from ..render.renderer import Frame
from .base import QueuedFrame, QueuedPresenter


class PngWriter(QueuedPresenter):
    """Writes each presented frame as DIR/frame_0000.png, ... (encoding on its own threads so
    the renderer is not held up; at most `depth` frames per session wait, older ones are
    dropped and counted, and their numbers are left out of the files).

    With `per_session=True` frames go to DIR/session-N/ so several guests never collide.
    """

    name = "png"

    def __init__(self, out_dir: str, per_session: bool = False, depth: int = 16, workers: int = 2):
        self.out_dir = out_dir
        self.per_session = per_session
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise PvgpuError(f"png: cannot create the folder {out_dir}: {e}") from None
        self._numbers: dict[int, int] = {}
        self._lock = threading.Lock()
        self.written = 0
        # zlib releases the GIL, so two workers encode in parallel with the renderer.
        super().__init__(depth=depth, workers=workers)

    def path_for(self, session_id: int, index: int) -> str:
        folder = os.path.join(self.out_dir, f"session-{session_id}") if self.per_session else self.out_dir
        return os.path.join(folder, f"frame_{index:04d}.png")

    def present(self, session_id: int, frame: Frame) -> None:
        # Numbered per session in the order frames arrive, not per swap chain: two swap chains
        # (or a guest program after another in a VM) never overwrite each other's files.
        with self._lock:
            number = self._numbers.get(session_id, 0)
            self._numbers[session_id] = number + 1
        super().present(session_id, Frame(frame.pixels, number, None, frame.presented_at))

    def show(self, frame: QueuedFrame) -> None:
        path = self.path_for(frame.session_id, frame.index)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(frame.pixels, "RGBA").save(path, compress_level=1)
        with self._lock:
            self.written += 1

    def close(self) -> None:
        super().close()
        if self.errors:
            raise OSError(f"could not write {len(self.errors)} frame(s): {self.errors[0]}")


class FrameCallback:
    """Calls `fn(session_id, frame)` for each presented frame; `frame.pixels` is valid during
    the call only (copy what you keep)."""

    def __init__(self, fn: Callable[[int, Frame], None]):
        self.fn = fn

    def present(self, session_id: int, frame: Frame) -> None:
        self.fn(session_id, frame)

    def close(self) -> None:
        pass
