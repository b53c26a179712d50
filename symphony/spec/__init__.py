"""The backend-neutral experiment model and its plain-data form.

The YAML/JSON loaders are imported on first use: the supervisor and the CLI's
quick verbs never pay for PyYAML.
"""

from typing import Any

from .model import ExperimentSpec, ProcessGroupSpec, ProcessSpec

_SERIALIZE = ("experiment_from_dict", "load_json", "load_yaml")
__all__ = ["ExperimentSpec", "ProcessGroupSpec", "ProcessSpec", *_SERIALIZE]


def __getattr__(name: str) -> Any:
    if name in _SERIALIZE:
        from . import serialize
        return getattr(serialize, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
