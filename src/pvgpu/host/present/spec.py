"""`--present` values: where frames go, parsed from the command line or a VM profile.

    png:DIR                 each frame as DIR/[session-N/]frame_NNNN.png
    window[:novsync]        a desktop window per session (vsync on unless `novsync`)
    web[:[HOST:]PORT]       the browser viewer, /metrics and /api (default 127.0.0.1:8470)
    record:FILE.mp4         H.264 video at the guest's presentation rate

Several may be given at once; each kind at most once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import PvgpuError

DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8470
KINDS = ("png", "window", "web", "record")


@dataclass(frozen=True)
class PresentSpec:
    kind: str
    path: str = ""  # png: the folder; record: the file
    host: str = DEFAULT_WEB_HOST
    port: int = DEFAULT_WEB_PORT
    vsync: bool = True

    def __str__(self) -> str:
        if self.kind in ("png", "record"):
            return f"{self.kind}:{self.path}"
        if self.kind == "web":
            return f"web:{self.host}:{self.port}"
        return "window" if self.vsync else "window:novsync"


def parse_present(text: str) -> PresentSpec:
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise PvgpuError(f"--present {text!r}: unknown presenter {kind!r} (one of {', '.join(KINDS)})")
    if kind in ("png", "record"):
        if not rest:
            what = "a folder (png:DIR)" if kind == "png" else "a file (record:FILE.mp4)"
            raise PvgpuError(f"--present {text!r}: {kind} needs {what}")
        if kind == "record" and not rest.lower().endswith((".mp4", ".mkv", ".mov")):
            raise PvgpuError(f"--present {text!r}: the recording must be a .mp4, .mkv or .mov file")
        return PresentSpec(kind, path=rest)
    if kind == "window":
        if rest not in ("", "vsync", "novsync"):
            raise PvgpuError(f"--present {text!r}: window takes nothing, vsync or novsync")
        return PresentSpec(kind, vsync=rest != "novsync")
    host, port = DEFAULT_WEB_HOST, DEFAULT_WEB_PORT
    if rest:
        h, _, p = rest.rpartition(":")
        host = h.strip("[]") or host
        try:
            port = int(p)
        except ValueError:
            raise PvgpuError(f"--present {text!r}: {p!r} is not a port number (web:HOST:PORT)") from None
        if not 0 <= port <= 65535:
            raise PvgpuError(f"--present {text!r}: port {port} is not 0..65535")
    return PresentSpec(kind, host=host, port=port)


def parse_presents(texts: list[str]) -> list[PresentSpec]:
    specs = [parse_present(t) for t in texts]
    kinds = [s.kind for s in specs]
    for k in KINDS:
        if kinds.count(k) > 1:
            raise PvgpuError(f"--present {k} is given {kinds.count(k)} times; give each kind once")
    return specs
