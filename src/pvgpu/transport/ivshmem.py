"""pvgpu as QEMU's ivshmem server (docs/specs/ivshmem-spec in QEMU).

Each message is an 8-byte little-endian signed number, optionally with one fd by
SCM_RIGHTS. On connect a client gets: the protocol version (0), its own peer id, -1 with the
shared-memory fd, connect notifications for the other peers (their id with one eventfd per
vector), then its own id with one eventfd per vector (its interrupts).

pvgpu takes part as peer HOST_PEER_ID: a guest's doorbell write of (HOST_PEER_ID << 16 |
vector) makes QEMU signal the host's eventfd, and the host interrupts the guest by writing
the guest's own vector eventfd. Every QEMU that connects gets a region and a session of its
own, so VMs never share memory.
"""

from __future__ import annotations

import socket
import struct

from ..errors import TransportError
from .doorbell import EventFd
from .local import HostLink
from .region import Region

PROTOCOL_VERSION = 0
HOST_PEER_ID = 0
VECTORS = 1
_MSG = struct.Struct("<q")


def _send(sock: socket.socket, value: int, fd: int | None = None) -> None:
    data = [_MSG.pack(value)]
    if fd is None:
        sock.sendall(data[0])
    else:
        socket.send_fds(sock, data, [fd])


def offer_region(sock: socket.socket, region: Region, peer_id: int) -> HostLink:
    """Server side of the handshake with one QEMU ivshmem-doorbell device."""
    if not 0 < peer_id < 65536 or peer_id == HOST_PEER_ID:
        raise ValueError(f"ivshmem peer id {peer_id} is out of range")
    host_doorbell = EventFd()  # the guest rings this: host peer, vector 0
    guest_interrupt = EventFd()  # the host rings this: the guest's vector 0
    try:
        _send(sock, PROTOCOL_VERSION)
        _send(sock, peer_id)
        _send(sock, -1, region.fd)
        _send(sock, HOST_PEER_ID, host_doorbell.fd)  # connect notification for the host peer
        _send(sock, peer_id, guest_interrupt.fd)  # interrupt setup for the guest itself
    except OSError as e:
        host_doorbell.close()
        guest_interrupt.close()
        raise TransportError(f"ivshmem handshake with QEMU failed: {e}") from e
    return HostLink(sock, region, host_doorbell, guest_interrupt)


def doorbell_value(peer_id: int = HOST_PEER_ID, vector: int = 0) -> int:
    """What a guest writes to BAR0's Doorbell register to interrupt `peer_id`."""
    return (peer_id << 16) | vector
