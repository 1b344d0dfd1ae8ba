"""Doorbells and interrupts over eventfds: one side writes, the other waits."""

from __future__ import annotations

import os
import select


class EventFd:
    """A non-blocking eventfd used as a doorbell (guest -> host) or interrupt (host -> guest)."""

    def __init__(self, fd: int | None = None):
        self.fd = fd if fd is not None else os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def signal(self) -> None:
        try:
            os.eventfd_write(self.fd, 1)
        except BlockingIOError:
            pass  # counter saturated: the other side has plenty of wake-ups pending

    def wait(self, timeout: float | None) -> bool:
        """Wait until signalled or `timeout` seconds pass; returns whether it was signalled."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        self.drain()
        return True

    def drain(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
