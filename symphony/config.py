"""``SymphonyConfig``: process-wide settings (a singleton, as in the seeds).

``set_username('sarah')`` prefixes every new experiment's name (``sarah-rl``), so
people sharing a cluster do not collide; ``set_experiment_folder(dir)`` keeps a
copy of every launched spec under ``dir/<experiment>/``.
"""

import os

from .errors import SymphonyError
from .spec.names import check_name


class SymphonyConfig:
    """Singleton: ``SymphonyConfig() is SymphonyConfig()``."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._reset()
            cls._instance = instance
        return cls._instance

    def _reset(self):
        self.username = None
        self.experiment_folder = None

    def set_username(self, name):
        """Prefix every new experiment name with ``name-``."""
        self.username = None if name is None else check_name("username", name)

    def set_experiment_folder(self, folder):
        """Save a copy of every launched experiment's spec under ``folder/<experiment>/``."""
        self.experiment_folder = None if folder is None else os.path.abspath(os.path.expanduser(folder))

    def experiment_name(self, name):
        """The name an experiment really gets: ``<username>-<name>`` when a username is set."""
        if self.username and not str(name).startswith(self.username + "-"):
            return f"{self.username}-{name}"
        return name

    def launched_spec_path(self, exp, force=False):
        """Where the launched spec will be saved (None without a folder).

        Called before launching, so an existing copy stops the launch before anything starts.
        """
        if not self.experiment_folder:
            return None
        path = os.path.join(self.experiment_folder, exp.name, "experiment.yml")
        if os.path.exists(path) and not force:
            raise SymphonyError(f"{path} already exists from an earlier launch: launch with force=True or choose another name")
        return path

    @staticmethod
    def save_launched_spec(exp, path):
        """Write ``experiment.yml`` at ``path`` (from :meth:`launched_spec_path`)."""
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            exp.dump_yaml(handle)
