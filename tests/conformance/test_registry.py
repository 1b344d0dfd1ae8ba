"""The conformance suite's own check: enough scenes, each naming a distinct D3D11 feature."""

from __future__ import annotations

import importlib
import os
import pkgutil

from . import scene as registry


def scene_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)])
                  if m.name.startswith("test_") and m.name != "test_registry")


def test_every_scene_names_a_distinct_feature():
    for name in scene_modules():
        importlib.import_module(f"{__package__}.{name}")
    scenes = registry.SCENES
    features = list(scenes.values())
    assert all(f.strip() for f in features), "a scene has an empty feature name"
    duplicates = sorted({f for f in features if features.count(f) > 1})
    assert not duplicates, f"features named by more than one scene: {duplicates}"
    assert len(scenes) >= registry.MIN_SCENES, (
        f"{len(scenes)} scenes are registered; the suite needs at least {registry.MIN_SCENES}")


def test_scene_modules_register_their_tests():
    """Every test_* function of a scene module is a registered scene (nothing unnamed)."""
    for name in scene_modules():
        module = importlib.import_module(f"{__package__}.{name}")
        tests = [n for n, obj in vars(module).items() if n.startswith("test_") and callable(obj)
                 and getattr(obj, "__module__", None) == module.__name__]
        missing = [n for n in tests if n not in registry.SCENES]
        assert not missing, f"{name}: tests without @scene: {missing}"
