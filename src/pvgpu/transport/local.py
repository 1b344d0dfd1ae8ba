"""The local transport: a UNIX socket hands a guest process its region (memfd) and its two
eventfds (doorbell: guest -> host, interrupt: host -> guest) with SCM_RIGHTS.

After that the socket carries nothing; the host watches it only to notice the guest leave.
This mirrors QEMU's ivshmem server protocol, which the VM transport uses.
"""

from __future__ import annotations

import os
import select
import socket
import struct

from ..errors import TransportError
from .doorbell import EventFd
from .region import Region

HELLO = struct.Struct("<8sQ")
HELLO_TAG = b"PVGPULOC"


class HostLink:
    """Host side of one connected guest."""

    def __init__(self, sock: socket.socket, region: Region, doorbell: EventFd, interrupt: EventFd):
        self.sock = sock
        self.region = region
        self.doorbell = doorbell
        self.interrupt = interrupt
        self.connected = True

    def wait(self, timeout: float | None) -> bool:
        """Wait for the doorbell; returns False once the guest has gone (socket closed)."""
        r, _, _ = select.select([self.doorbell.fd, self.sock], [], [], timeout)
        if self.sock in r:
            try:
                data = self.sock.recv(64)
            except OSError:
                data = b""
            if not data:
                self.connected = False
                return False
        if self.doorbell.fd in r:
            self.doorbell.drain()
        return True

    def close(self) -> None:
        self.connected = False
        for closable in (self.sock, self.doorbell, self.interrupt):
            try:
                closable.close()
            except OSError:
                pass
        self.region.close()


def offer_region(sock: socket.socket, region: Region) -> HostLink:
    """Host side: hand a freshly formatted region and new eventfds to an accepted guest."""
    doorbell, interrupt = EventFd(), EventFd()
    try:
        socket.send_fds(sock, [HELLO.pack(HELLO_TAG, region.size)], [region.fd, doorbell.fd, interrupt.fd])
    except OSError as e:
        doorbell.close()
        interrupt.close()
        raise TransportError(f"could not hand the region to the guest: {e}") from e
    return HostLink(sock, region, doorbell, interrupt)


class LocalGuestChannel:
    """Guest side of the local transport: the region, the doorbell and the interrupt."""

    def __init__(self, socket_path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(socket_path)
            msg, fds, _flags, _addr = socket.recv_fds(self.sock, HELLO.size, 3)
        except (FileNotFoundError, ConnectionRefusedError):
            raise TransportError(f"no pvgpu host is listening on {socket_path} (start `pvgpu serve`)") from None
        except (OSError, socket.timeout) as e:
            raise TransportError(f"could not connect to the pvgpu host at {socket_path}: {e}") from e
        if len(msg) != HELLO.size or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise TransportError(f"{socket_path} did not answer like a pvgpu host")
        tag, size = HELLO.unpack(msg)
        if tag != HELLO_TAG:
            raise TransportError(f"{socket_path} did not answer like a pvgpu host (tag {tag!r})")
        region_fd, doorbell_fd, interrupt_fd = fds
        self.region = Region(region_fd, size)
        self.doorbell = EventFd(doorbell_fd)
        self.interrupt = EventFd(interrupt_fd)

    def ring_doorbell(self) -> None:
        self.doorbell.signal()

    def wait_interrupt(self, timeout: float) -> bool:
        return self.interrupt.wait(timeout)

    def close(self) -> None:
        for closable in (self.doorbell, self.interrupt, self.sock):
            try:
                closable.close()
            except OSError:
                pass
        self.region.close()
