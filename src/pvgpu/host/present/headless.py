"""Headless presenters: PNG files and frame callbacks."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import Callable

from PIL import Image

from ..render.renderer import Frame


class PngWriter:
    """Writes each presented frame as DIR/frame_0000.png, ... (encoding on worker threads so
    the renderer is not held up; at most `backlog` frames wait).

    With `per_session=True` frames go to DIR/session-N/ so several guests never collide.
    """

    def __init__(self, out_dir: str, per_session: bool = False, backlog: int = 8, workers: int = 2):
        self.out_dir = out_dir
        self.per_session = per_session
        os.makedirs(out_dir, exist_ok=True)
        # zlib releases the GIL, so a few workers encode in parallel with the renderer.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pvgpu-png")
        self._slots = threading.Semaphore(backlog)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self.written = 0

    def path_for(self, session_id: int, index: int) -> str:
        folder = os.path.join(self.out_dir, f"session-{session_id}") if self.per_session else self.out_dir
        return os.path.join(folder, f"frame_{index:04d}.png")

    def present(self, session_id: int, frame: Frame) -> None:
        # Numbered per session, not per swap chain: two swap chains (or a guest program after
        # another in a VM) never overwrite each other's files.
        index = self._counts.get(session_id, 0)
        self._counts[session_id] = index + 1
        path = self.path_for(session_id, index)
        self._slots.acquire()
        self._pool.submit(self._write, path, frame.pixels.copy())  # pixels are lent for this call only

    def _write(self, path: str, pixels) -> None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
            with self._lock:
                self.written += 1
        except BaseException as e:  # surfaced by close()
            self._errors.append(e)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._errors:
            raise OSError(f"could not write {len(self._errors)} frame(s): {self._errors[0]}")


class FrameCallback:
    """Calls `fn(session_id, frame)` for each presented frame; `frame.pixels` is valid during
    the call only (copy what you keep)."""

    def __init__(self, fn: Callable[[int, Frame], None]):
        self.fn = fn

    def present(self, session_id: int, frame: Frame) -> None:
        self.fn(session_id, frame)

    def close(self) -> None:
        pass
