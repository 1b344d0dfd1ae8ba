"""`record:FILE.mp4`: H.264 video of each session's frames, timed as the guest presented them.

Encoding is PyAV's libx264 (FFmpeg) on the presenter's own thread. Every frame's timestamp is
the host's time of the guest's PRESENT, so the video plays at the guest's presentation rate,
paced or not (a variable frame rate, which MP4 carries). The video has the size of the
session's first frame; later frames of another size (ResizeBuffers, a mode change) are scaled
to it and counted in `rescaled`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from fractions import Fraction

from ...errors import PvgpuError
from .base import QueuedFrame, QueuedPresenter

log = logging.getLogger("pvgpu.present")

TIME_BASE = Fraction(1, 90_000)  # MPEG's clock: exact for 60, 75, 120 and 144 Hz frame times


def _even(n: int) -> int:
    return max(2, n + (n & 1))


@dataclass
class _Track:
    path: str
    container: object
    stream: object
    width: int
    height: int
    first_at: float
    last_pts: int = -1
    frames: int = 0
    rescaled: int = 0


class Recorder(QueuedPresenter):
    """Writes the frames of each session as H.264 in an MP4 (or MKV/MOV) file.

    One session (`pvgpu demo`, a VM) writes FILE itself; with `per_session=True` (a service
    with many guests) session N writes FILE's name with `-session-N` before the suffix."""

    name = "record"

    def __init__(self, path: str, per_session: bool = False, crf: int = 18, preset: str = "veryfast",
                 depth: int = 4, queue_bytes: int = 128 << 20):
        try:
            import av  # noqa: F401
        except ImportError as e:  # a broken install, not a user error
            raise PvgpuError(f"record: PyAV is not installed ({e}); run ./setup.sh") from None
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise PvgpuError(f"record: the folder {folder} does not exist")
        self.path = path
        self.per_session = per_session
        self.crf, self.preset = crf, preset
        self._tracks: dict[int, _Track] = {}
        self._track_lock = threading.Lock()
        self.finished: list[str] = []  # files closed so far
        super().__init__(depth=depth, queue_bytes=queue_bytes)

    def path_for(self, session_id: int) -> str:
        if not self.per_session:
            return self.path
        stem, ext = os.path.splitext(self.path)
        return f"{stem}-session-{session_id}{ext}"

    def _open(self, frame: QueuedFrame) -> _Track:
        import av
        path = self.path_for(frame.session_id)
        h, w = frame.pixels.shape[:2]
        try:
            container = av.open(path, "w")
        except OSError as e:
            raise PvgpuError(f"record: cannot write {path}: {e}") from None
        stream = container.add_stream("libx264")
        stream.width, stream.height = _even(w), _even(h)
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = TIME_BASE  # timestamps are the guest's
        # zerolatency: no frame look-ahead, so a frame's packet leaves as it is encoded and a
        # session that ends abruptly loses nothing buffered in the encoder.
        stream.options = {"crf": str(self.crf), "preset": self.preset, "tune": "zerolatency"}
        log.info("record: session %d to %s (%dx%d)", frame.session_id, path, stream.width, stream.height)
        return _Track(path, container, stream, stream.width, stream.height, frame.presented_at)

    def show(self, frame: QueuedFrame) -> None:
        import av
        with self._track_lock:
            track = self._tracks.get(frame.session_id)
            if track is None:
                track = self._tracks[frame.session_id] = self._open(frame)
        pts = round((frame.presented_at - track.first_at) / TIME_BASE)
        pts = max(pts, track.last_pts + 1)  # strictly increasing, whatever the clock did
        video = av.VideoFrame.from_ndarray(frame.pixels, format="rgba")
        h, w = frame.pixels.shape[:2]
        if (w, h) != (track.width, track.height):
            track.rescaled += 1
        video = video.reformat(track.width, track.height, "yuv420p")
        video.pts, video.time_base = pts, TIME_BASE
        for packet in track.stream.encode(video):
            track.container.mux(packet)
        track.last_pts = pts
        track.frames += 1

    def _finish(self, session_id: int) -> None:
        with self._track_lock:
            track = self._tracks.pop(session_id, None)
        if track is None:
            return
        try:
            for packet in track.stream.encode():
                track.container.mux(packet)
        finally:
            track.container.close()
        self.finished.append(track.path)
        log.info("record: %s closed, %d frames (%d rescaled)", track.path, track.frames, track.rescaled)

    def ended(self, session_id: int) -> None:
        self.drain()
        self._finish(session_id)

    def stop(self) -> None:
        for session_id in list(self._tracks):
            self._finish(session_id)
