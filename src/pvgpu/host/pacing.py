"""Frame pacing: a virtual display's vblank clock and DXGI's sync interval on it.

Each session has one virtual output whose vertical blanks tick at the display mode's refresh
rate from the session's start. A present with sync interval N > 0 is shown at the Nth vblank
after the vblank the previous frame was shown at (a late frame at the next vblank, as DXGI
does), and the session's thread sleeps until then; sync interval 0 is shown at once, in the
refresh interval that is running. The figures DXGI_FRAME_STATISTICS reports follow from that:
PresentCount (presents so far), PresentRefreshCount (the vblank the last one was shown at),
SyncRefreshCount and SyncQPCTime (the vblank the statistics were sampled at, and its time:
here the last present's vblank, so SyncRefreshCount == PresentRefreshCount after every present).

All arithmetic is in integer nanoseconds and millihertz, so vblank k's time and the count at
a time agree exactly (count_at(time_of(k)) == k).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

NS = 10 ** 9
#: longest a single present may hold the session's thread (a bound whatever the mode and interval)
MAX_WAIT_NS = 250_000_000
#: the last part of a wait is spun rather than slept (sleep wakes up late by tens of microseconds)
SPIN_NS = 200_000


class VblankClock:
    """Vblank number k happens at `epoch_ns + (k - base) / refresh` (refresh in millihertz)."""

    def __init__(self, refresh_mhz: int, now_ns: int):
        self.refresh_mhz = refresh_mhz
        self.base = 0
        self.epoch_ns = now_ns

    def count_at(self, t_ns: int) -> int:
        """Vblanks that have happened by `t_ns` (the refresh interval running at t_ns)."""
        return self.base + (t_ns - self.epoch_ns) * self.refresh_mhz // (NS * 1000)

    def time_of(self, count: int) -> int:
        """When vblank number `count` happens (rounded up to the nanosecond)."""
        return self.epoch_ns - (-(count - self.base) * NS * 1000 // self.refresh_mhz)

    def set_refresh(self, refresh_mhz: int, now_ns: int) -> None:
        """A mode change: the new rate ticks from the last vblank; the count never goes back."""
        if refresh_mhz == self.refresh_mhz:
            return
        last = self.count_at(now_ns)
        self.epoch_ns, self.base = self.time_of(last), last
        self.refresh_mhz = refresh_mhz


@dataclass(frozen=True)
class FrameStatistics:
    """DXGI_FRAME_STATISTICS as the host computes it (times in CLOCK_MONOTONIC ns)."""

    present_count: int
    present_refresh_count: int
    sync_refresh_count: int
    sync_time_ns: int


class FramePacer:
    """Decides when each present is shown and keeps the frame statistics."""

    def __init__(self, refresh_mhz: int, now: Callable[[], int] = time.monotonic_ns,
                 sleep: Callable[[float], object] = time.sleep, keep_waiting: Callable[[], bool] = lambda: True):
        """`sleep(seconds)` may return early (a session sleeps on its doorbell, so that it sees
        its guest leave); a wait ends when `keep_waiting()` turns False."""
        self._now = now
        self._sleep = sleep
        self._keep_waiting = keep_waiting
        self.clock = VblankClock(refresh_mhz, now())
        self.last_shown: int | None = None  # vblank the previous frame was shown at
        self.stats = FrameStatistics(0, 0, 0, self.clock.epoch_ns)
        self.waited_ns = 0  # all the waits so far

    def set_refresh(self, refresh_mhz: int) -> None:
        self.clock.set_refresh(refresh_mhz, self._now())

    def schedule(self, sync_interval: int, now_ns: int) -> tuple[int, int]:
        """(vblank number, time in ns) at which a present made at `now_ns` is shown."""
        current = self.clock.count_at(now_ns)
        if sync_interval == 0:
            return current, now_ns
        target = current + 1 if self.last_shown is None else self.last_shown + sync_interval
        if target <= current:  # late: the next vblank
            target = current + 1
        return target, self.clock.time_of(target)

    def present(self, sync_interval: int, wait: bool = True) -> FrameStatistics:
        """Account one present, sleeping until its vblank if it is paced and `wait` is set
        (a session whose guest has gone does not wait)."""
        now = self._now()
        count, when = self.schedule(sync_interval, now)
        if sync_interval and wait:
            self._wait_until(min(when, now + MAX_WAIT_NS))
        self.last_shown = count
        self.stats = FrameStatistics(self.stats.present_count + 1, count, count, self.clock.time_of(count))
        return self.stats

    def _wait_until(self, deadline_ns: int) -> None:
        start = now = self._now()
        while now < deadline_ns and self._keep_waiting():
            left = deadline_ns - now
            if left > SPIN_NS:
                self._sleep((left - SPIN_NS) / NS)
            now = self._now()
        self.waited_ns += now - start
