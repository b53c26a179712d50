"""The backend-neutral experiment model and its plain-data form.

Everything is imported on first use: the CLI's quick verbs read names and messages from
this package (``spec.names``, ``spec.brief``) without paying for the model, and nothing
but a loader pays for PyYAML.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Any

_HOMES = {"ExperimentSpec": "model", "ProcessGroupSpec": "model", "ProcessSpec": "model",
          "experiment_from_dict": "serialize", "load_json": "serialize", "load_yaml": "serialize"}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
