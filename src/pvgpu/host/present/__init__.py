"""Presenters: where presented frames go (headless PNG files, callbacks)."""
