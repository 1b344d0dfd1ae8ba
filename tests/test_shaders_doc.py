"""docs/shaders.md names exactly the `pvgpu shader` subcommands the CLI has, and every option
they take, so the page cannot silently fall behind the tools (or promise ones that do not exist)."""

from __future__ import annotations

import argparse
import os
import re

from pvgpu.cli import build_parser
from pvgpu.shaders.specialization import TEXTURE_KINDS, Specialization

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "shaders.md")


def _text() -> str:
    with open(DOC) as f:
        return f.read()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subcommands in its one _SubParsersAction
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def shader_commands() -> dict[str, argparse.ArgumentParser]:
    return _subparsers(_subparsers(build_parser())["shader"])


def test_the_page_names_every_shader_subcommand_and_no_other():
    documented = set(re.findall(r"pvgpu shader ([a-z][a-z0-9-]*)", _text()))
    real = set(shader_commands())
    assert documented - real == set(), f"docs/shaders.md names subcommands that do not exist: {documented - real}"
    assert real - documented == set(), f"docs/shaders.md omits subcommands: {real - documented}"


def test_the_page_names_every_option_and_no_other():
    text = _text()
    tools = text[text.index("## Tools"):]
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", tools))
    real = {opt for p in shader_commands().values() for a in p._actions for opt in a.option_strings
            if opt.startswith("--") and opt != "--help"}
    assert documented - real == set(), f"docs/shaders.md names options that do not exist: {documented - real}"
    assert real - documented == set(), f"docs/shaders.md omits options: {real - documented}"


def test_the_page_names_every_specialization_field_and_texture_kind():
    text = _text()
    fields = set(Specialization.__dataclass_fields__)
    missing = {f for f in fields if f"`{f}`" not in text}
    assert not missing, f"docs/shaders.md omits Specialization fields: {missing}"
    assert all(kind in text for kind in TEXTURE_KINDS)
