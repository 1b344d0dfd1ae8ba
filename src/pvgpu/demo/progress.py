"""A presenter that shows progress and the frame rate on the terminal."""

from __future__ import annotations

import sys
import time


class ProgressReporter:
    def __init__(self, total: int, stream=None, label: str = "frame"):
        self.total = total
        self.stream = stream or sys.stderr
        self.label = label
        self.count = 0
        self.start = time.perf_counter()
        self.first_frame_at: float | None = None
        self.last_frame_at = 0.0
        self._last_line = self.start
        self._tty = self.stream.isatty()

    def present(self, session_id: int, frame) -> None:
        now = time.perf_counter()
        self.count += 1
        self.last_frame_at = now
        if self.first_frame_at is None:
            self.first_frame_at = now
        if self._tty:
            if now - self._last_line > 0.1 or self.count == self.total:
                self.stream.write(f"\r{self.label} {self.count}/{self.total}  {self.fps:6.1f} fps")
                self.stream.flush()
                self._last_line = now
        elif self.count == self.total or now - self._last_line > 2.0:
            self.stream.write(f"{self.label} {self.count}/{self.total}  {self.fps:.1f} fps\n")
            self._last_line = now

    @property
    def fps(self) -> float:
        """Frames per second since the first frame (start-up excluded)."""
        if self.first_frame_at is None or self.count < 2:
            return 0.0
        return (self.count - 1) / max(1e-9, self.last_frame_at - self.first_frame_at)

    def close(self) -> None:
        if self._tty and self.count:
            self.stream.write("\n")
