"""The front door: ``__all__`` is exactly the public surface, sorted, and all importable."""

from __future__ import annotations

import importlib
import pkgutil

import guardrails


def test_all_lists_exactly_the_public_names() -> None:
    # dir(), not vars(): the scikit-learn estimators load on first use (import time)
    public = {
        name for name in dir(guardrails) if not name.startswith("_") and not _is_submodule(name)
    }
    assert set(guardrails.__all__) == public | {"__version__"}
    for name in guardrails.__all__:
        assert getattr(guardrails, name) is not None


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in guardrails.__all__ if n != "__version__"]
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    assert len(set(guardrails.__all__)) == len(guardrails.__all__)


def test_every_module_has_a_one_line_docstring_and_imports() -> None:
    for info in pkgutil.walk_packages(guardrails.__path__, "guardrails."):
        module = importlib.import_module(info.name)
        doc = (module.__doc__ or "").strip()
        assert doc, f"{info.name} has no docstring"
        assert doc.splitlines()[0].endswith((".", ":")), f"{info.name}: summary line"


def test_the_package_ships_type_information() -> None:
    from importlib.resources import files

    assert files("guardrails").joinpath("py.typed").is_file()


def _is_submodule(name: str) -> bool:
    return type(getattr(guardrails, name)).__name__ == "module"
