"""The one place that turns a missing optional dependency into an actionable error."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an error naming the extra that provides it.

    Called inside the adapter that needs the dependency, never at import time, so
    ``import smolagents`` stays light.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} requires the '{module.split('.')[0]}' package, which is not installed. "
            f"Install it with: pip install 'smolagents[{extra}]'"
        ) from exc
