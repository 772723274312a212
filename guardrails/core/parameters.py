"""``get_params``/``set_params`` for policies and calibrators, as scikit-learn steps have.

A policy or a calibrator is a setting of a
[`GuardedClassifier`][guardrails.GuardedClassifier], so a grid search addresses its
parameters like those of any pipeline step (``{"policy__alpha": [0.05, 0.1]}``) and
`sklearn.base.clone` copies it. The
parameters are the arguments of ``__init__``, read back from the attributes of the same
name; ``set_params`` rebuilds the object through ``__init__`` (so every value is checked
as at construction) and drops what was fitted, since a fitted threshold belongs to the
old settings. A subclass whose ``__init__`` takes ``*args``/``**kwargs`` or does not
store its arguments by name has no parameters and is copied whole by ``clone``.

scikit-learn is imported only when an object holding an estimator is cloned.
"""

from __future__ import annotations

import copy
import inspect
from typing import TYPE_CHECKING, Any

from guardrails.core.errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["HasParams"]


def _init_names(cls: type) -> tuple[str, ...] | None:
    """Names of the arguments of ``cls.__init__``; None when they cannot be addressed."""
    init = getattr(cls, "__init__", None)
    if init is None or init is object.__init__:
        return ()
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return None
    names = []
    for p in list(signature.parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            return None
        names.append(p.name)
    return tuple(sorted(names))


def _clone_value(value: Any) -> Any:
    """An unfitted copy of one parameter value (estimators through scikit-learn's clone)."""
    if isinstance(value, HasParams):
        return value.__sklearn_clone__()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone_value(v) for v in value)
    if hasattr(value, "get_params") and not isinstance(value, type):
        from sklearn.base import clone

        return clone(value, safe=False)
    return copy.deepcopy(value)


class HasParams:
    """Mixin: the ``__init__`` arguments as scikit-learn parameters.

    Examples:
        >>> from sklearn.base import clone
        >>> from guardrails import ConformalSets
        >>> sets = ConformalSets(0.1)
        >>> sets.get_params()["alpha"]
        0.1
        >>> sets.set_params(alpha=0.05).alpha, clone(sets) is sets
        (0.05, False)
    """

    def _param_names(self) -> tuple[str, ...] | None:
        names = _init_names(type(self))
        if names is None:
            return None
        if not all(self._has_param(n) for n in names):
            return None
        return names

    def _has_param(self, name: str) -> bool:
        return hasattr(self, name)

    def _get_param(self, name: str) -> Any:
        return getattr(self, name)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings of this object, by ``__init__`` argument name.

        Args:
            deep: also list the parameters of parameters that have them (an estimator,
                an inner policy) as ``name__inner``.

        Returns:
            ``{name: value}``; empty for an object whose settings cannot be addressed.
        """
        names = self._param_names() or ()
        out: dict[str, Any] = {}
        for name in names:
            value = self._get_param(name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, inner in value.get_params(deep=True).items():
                    out[f"{name}__{key}"] = inner
        return out

    def _rebuilt(self, params: dict[str, Any]) -> Self:
        """A new object of this type built through ``__init__`` from ``params``."""
        return type(self)(**params)

    def set_params(self, **params: Any) -> Self:
        """Change settings (``name=value`` or ``inner__name=value``); returns self.

        The object is rebuilt through ``__init__``, so values are checked as at
        construction, and fitted state is dropped: fit again before deciding.

        Raises:
            ConfigurationError: an unknown parameter, or a value ``__init__`` refuses.
        """
        if not params:
            return self
        names = self._param_names()
        owner = type(self).__name__
        if names is None:
            raise ConfigurationError(
                f"{owner} has no settable parameters: its __init__ takes *args/**kwargs or "
                "does not store its arguments under their own names."
            )
        current = {n: self._get_param(n) for n in names}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in current:
                raise ConfigurationError(
                    f"Invalid parameter {name!r} for {owner}. Valid parameters are: "
                    f"{sorted(current)!r}."
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                current[name] = value
        for name, sub_params in nested.items():
            inner = current[name]
            if not hasattr(inner, "set_params"):
                raise ConfigurationError(
                    f"Invalid parameter {name + '__' + next(iter(sub_params))!r} for {owner}: "
                    f"{name}={inner!r} has no parameters."
                )
            current[name] = inner.set_params(**sub_params)
        fresh = self._rebuilt(current)
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def __sklearn_clone__(self) -> Self:
        """An unfitted copy with the same settings (what `sklearn.base.clone` calls)."""
        names = self._param_names()
        if names is None:
            return copy.deepcopy(self)
        return self._rebuilt({n: _clone_value(self._get_param(n)) for n in names})
