"""docs/d3d11-coverage.md names every method of the guest API (as D3D11's CamelCase name or
pvgpu's snake_case one), so it cannot silently fall behind the code."""

from __future__ import annotations

import inspect
import os
import re

from pvgpu.guest.context import DeviceContext
from pvgpu.guest.device import Device
from pvgpu.guest.swapchain import SwapChain

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "d3d11-coverage.md")
NOT_D3D11 = {"close", "host_errors", "wait_idle", "release"}  # pvgpu's own conveniences


def documented_names() -> set[str]:
    with open(DOC) as f:
        text = f.read()
    names = set(re.findall(r"`([a-z0-9_]+)`", text))
    for camel in re.findall(r"\b[A-Z][A-Za-z0-9]+\b", text):
        names.add(re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", camel).lower())
    return names


def test_every_guest_api_method_is_in_the_coverage_page():
    names = documented_names()
    missing = [f"{cls.__name__}.{name}" for cls in (Device, DeviceContext, SwapChain)
               for name, _ in inspect.getmembers(cls, inspect.isfunction)
               if not name.startswith("_") and name not in NOT_D3D11 and name not in names]
    assert not missing, f"add these to docs/d3d11-coverage.md: {missing}"


def test_every_scene_and_test_the_page_names_exists():
    """`module::test` references on the page name real scenes (tests/conformance/) or tests."""
    with open(DOC) as f:
        text = f.read()
    here = os.path.dirname(__file__)
    refs = re.findall(r"`(tests/)?(test_[a-z0-9_]+)(?:\.py)?::(test_[a-z0-9_*]+)`", text)
    assert len(refs) > 30
    missing = []
    for top, module, name in refs:
        # `tests/test_x.py::...` is a test module; `test_x::...` a conformance scene module, else a test one
        for folder in ((here,) if top else (os.path.join(here, "conformance"), here)):
            path = os.path.join(folder, module + ".py")
            if os.path.exists(path):
                with open(path) as f:
                    source = f.read()
                pattern = re.escape(name).replace(r"\*", "[a-z0-9_]*")
                if not re.search(rf"^def {pattern}\(", source, re.M):
                    missing.append(f"{module}::{name}")
                break
        else:
            missing.append(f"{module}.py (no such test module)")
    assert not missing, f"docs/d3d11-coverage.md names tests that do not exist: {missing}"
