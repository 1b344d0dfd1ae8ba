"""`--present web`: the browser viewer, /api/sessions and Prometheus /metrics."""

from .server import WebPresenter

__all__ = ["WebPresenter"]
