"""Project exceptions. The CLI prints these without a traceback."""


class PvgpuError(Exception):
    """Base class: a problem a user can act on, described in the message."""


class ProtocolError(PvgpuError):
    """Bytes that do not follow the protocol (bad magic, unknown version, bad framing)."""


class VersionMismatchError(ProtocolError):
    """Guest and host speak different protocol major versions."""


class TransportError(PvgpuError):
    """The shared region, ring, heap or doorbells failed."""


class WaitTimeoutError(TransportError):
    """A bounded wait ran out (ring full, fence not reached, host not answering)."""


class DeviceLostError(PvgpuError):
    """The host put this guest's device in the device-lost state."""


class WasStillDrawingError(PvgpuError):
    """Map with DO_NOT_WAIT found the GPU still busy (DXGI_ERROR_WAS_STILL_DRAWING): map again."""


class HostReportedError(PvgpuError):
    """The host rejected one or more commands; the message lists the error-log entries."""


class RenderError(PvgpuError):
    """The host could not set up rendering (no adapter, no Vulkan driver)."""
