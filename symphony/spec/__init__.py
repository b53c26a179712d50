"""The backend-neutral experiment model and its plain-data form."""

from .model import ExperimentSpec, ProcessGroupSpec, ProcessSpec
from .serialize import experiment_from_dict, load_json, load_yaml

__all__ = ["ExperimentSpec", "ProcessGroupSpec", "ProcessSpec", "experiment_from_dict", "load_json", "load_yaml"]
