"""The scene registry: every conformance scene names the Direct3D 11 feature it covers.

    @scene("OMSetBlendState: SRC_ALPHA, INV_SRC_ALPHA, ADD")
    def test_blend_src_alpha(pair): ...

`scene` records `SCENES[test name] = feature` and returns the function unchanged, so pytest
collects it as usual. `test_registry.py` checks that there are at least `MIN_SCENES` of them,
each with its own non-empty feature text.
"""

from __future__ import annotations

from typing import Callable

#: How many scenes the suite must have (test_registry.py).
MIN_SCENES = 40

#: test function name -> the D3D11 feature it covers.
SCENES: dict[str, str] = {}
#: test function name -> the module that defined it (names are unique across the suite).
_MODULES: dict[str, str] = {}


def scene(feature: str) -> Callable:
    """Register a conformance scene under the D3D11 `feature` it exercises."""
    if not isinstance(feature, str) or not feature.strip():
        raise ValueError("a scene needs a non-empty feature name")

    def register(fn: Callable) -> Callable:
        name = fn.__name__
        if not name.startswith("test_"):
            raise ValueError(f"scene {name}: pytest only collects functions named test_*")
        if _MODULES.get(name, fn.__module__) != fn.__module__:
            raise ValueError(f"scene {name} is defined in both {_MODULES[name]} and {fn.__module__}")
        SCENES[name] = feature.strip()
        _MODULES[name] = fn.__module__
        fn.feature = feature.strip()
        return fn

    return register
