"""The `pair` fixture: a pvgpu guest device on a running host, plus the direct wgpu device
(the fixtures `host`, `device` and `wgpu_device` come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from .pair import Pair


@pytest.fixture
def pair(host, device, wgpu_device) -> Pair:
    return Pair(host, device, wgpu_device)
