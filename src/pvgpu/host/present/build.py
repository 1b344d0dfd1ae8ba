"""Turning `--present` specs into presenters for a host service (the CLI and VM profiles)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ...errors import PvgpuError
from .spec import PresentSpec

WEB_TOKEN_ENV = "PVGPU_WEB_TOKEN"


@dataclass
class Presentation:
    """What a service shows frames with: presenters in the service process, and the window
    options for the presenter that runs next to each session's renderer."""

    specs: list[PresentSpec]
    presenters: list = field(default_factory=list)
    window: object | None = None  # present.window.WindowOptions
    web: object | None = None  # present.web.WebPresenter, for its URL

    def service_options(self) -> dict:
        """Keyword arguments for HostService."""
        return {"presenters": self.presenters, "window": self.window}

    def describe(self) -> list[str]:
        lines = []
        for spec in self.specs:
            if spec.kind == "web" and self.web is not None:
                lines.append(f"web viewer at {self.web.url}")
            elif spec.kind == "png":
                lines.append(f"frames to {spec.path}")
            elif spec.kind == "record":
                lines.append(f"recording to {spec.path}")
            else:
                lines.append("a window per session" + ("" if spec.vsync else " (no vsync)"))
        return lines

    def drops(self) -> dict[str, int]:
        """Frames each service-side presenter dropped, over every session."""
        out = {}
        for p in self.presenters:
            if hasattr(p, "dropped_total"):
                out[getattr(p, "name", type(p).__name__)] = p.dropped_total
        return out

    def close(self) -> None:
        errors = []
        for p in self.presenters:
            try:
                p.close()
            except Exception as e:
                errors.append(f"{getattr(p, 'name', type(p).__name__)}: {e}")
        if errors:
            raise PvgpuError("; ".join(errors))


def build_presentation(specs: list[PresentSpec], per_session: bool, web_token: str | None = None) -> Presentation:
    """Create the presenters `specs` ask for. `per_session`: a service that may serve several
    guests (files per session). The web viewer's token comes from `web_token` or the
    PVGPU_WEB_TOKEN environment variable."""
    out = Presentation(list(specs))
    try:
        for spec in specs:
            if spec.kind == "png":
                from .headless import PngWriter
                out.presenters.append(PngWriter(spec.path, per_session=per_session))
            elif spec.kind == "record":
                from .record import Recorder
                out.presenters.append(Recorder(spec.path, per_session=per_session))
            elif spec.kind == "web":
                from .web import WebPresenter
                token = web_token or os.environ.get(WEB_TOKEN_ENV) or None
                out.web = WebPresenter(host=spec.host, port=spec.port, token=token)
                out.presenters.append(out.web)
            elif spec.kind == "window":
                from .window import WindowOptions
                out.window = WindowOptions(vsync=spec.vsync)
    except BaseException:
        out.close()
        raise
    if out.web is not None:
        out.web.watch(out.presenters)
    return out
