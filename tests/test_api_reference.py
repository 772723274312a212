"""The API reference: every public name has an entry; docstrings speak mkdocstrings."""

from __future__ import annotations

import importlib
import pathlib
import re
from typing import Any

import guardrails

ROOT = pathlib.Path(__file__).resolve().parent.parent
API_PAGES = ROOT / "docs" / "api"
DIRECTIVE = re.compile(r"^::: (\S+)\s*$", re.MULTILINE)
SPHINX_ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|exc|obj|py:\w+):`")
# Google style renders only "Examples:" as a section whose ">>>" lines become code blocks;
# "Example:" becomes an admonition in which the prompts render as nested quotes.
SINGULAR_EXAMPLE = re.compile(r"^\s+Example:\s*$", re.MULTILINE)


def _directives() -> list[str]:
    return [
        target
        for page in sorted(API_PAGES.glob("*.md"))
        for target in DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    ]


def _resolve(target: str) -> Any:
    """The object a ``::: target`` entry renders; like griffe, a module wins over a name."""
    try:
        return importlib.import_module(target)
    except ImportError:
        module_path, _, name = target.rpartition(".")
        return getattr(importlib.import_module(module_path), name, _MISSING)


_MISSING = object()


def _documented_public_names() -> list[str]:
    """Each public name once per entry that renders that very object."""
    rendered = [_resolve(t) for t in _directives()]
    return [
        name
        for name in guardrails.__all__
        for obj in rendered
        if obj is getattr(guardrails, name) and not isinstance(obj, (str, tuple))
    ] + [
        name
        for name in guardrails.__all__
        if isinstance(getattr(guardrails, name), (str, tuple))
        and f"guardrails.{name}" in _directives()
    ]


def _sources() -> list[pathlib.Path]:
    return sorted((ROOT / "guardrails").rglob("*.py"))


def test_every_public_name_has_an_entry_in_the_api_reference() -> None:
    missing = sorted(set(guardrails.__all__) - set(_documented_public_names()))
    assert not missing, (
        f"{len(missing)} public name(s) in guardrails.__all__ have no '::: guardrails.NAME' "
        f"entry under docs/api/: {missing}"
    )


def test_every_api_entry_names_an_object_that_exists() -> None:
    stale = [t for t in _directives() if _resolve(t) is _MISSING]
    assert not stale, f"API pages document objects that do not exist: {stale}"


def test_no_public_name_is_documented_twice() -> None:
    names = _documented_public_names()
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"API pages document these names more than once: {twice}"


def test_the_builder_function_is_documented_where_it_is_defined() -> None:
    # guardrails.guard is the function; its module is guardrails.builder
    assert "guardrails.builder" not in _directives()
    assert "guardrails.builder.guard" in _directives()


def test_every_api_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    absent = [p.name for p in sorted(API_PAGES.glob("*.md")) if f"api/{p.name}" not in nav]
    assert not absent, f"docs/api pages missing from mkdocs.yml nav: {absent}"


def test_no_docstring_uses_sphinx_roles_that_render_as_raw_text() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}"
        for path in _sources()
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SPHINX_ROLE.search(line)
    ]
    assert not found, (
        "Sphinx roles show as raw text in the mkdocstrings reference; write "
        "[`Name`][] (resolved in the docstring's scope) or [`Name`][guardrails.Name]:\n"
        + "\n".join(found)
    )


def test_docstring_examples_use_the_section_that_renders_as_code() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in _sources()
        for text in [path.read_text(encoding="utf-8")]
        for match in SINGULAR_EXAMPLE.finditer(text)
    ]
    assert not found, (
        "'Example:' renders its >>> lines as nested quotes; name the section 'Examples:' in: "
        + ", ".join(found)
    )
