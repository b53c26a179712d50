"""The ``symphony`` console command: a :class:`SymphonyParser` whose backend is chosen at run time.

The backend is ``-b/--backend``, else ``$SYMPHONY_BACKEND``, else ``backend:`` in
the config file (:mod:`symphony.config`), else ``local``; its keyword arguments
come from the config file's ``backends:`` section.
"""

import argparse

from ..config import BACKEND_VAR, DEFAULT_BACKEND, selected_backend  # noqa: F401 (this module's names too)
from .parser import SymphonyParser


class SymphonyCommand(SymphonyParser):
    """Run and inspect Symphony experiments on local processes, tmux, Docker or Kubernetes."""

    def add_common_arguments(self, parser):
        option = parser.add_argument(
            "-b", "--backend", default=argparse.SUPPRESS,
            help=f"local, tmux, docker or kube (default: ${BACKEND_VAR}, the config file, else {DEFAULT_BACKEND})")
        option.completer = _complete_backends

    def create_cluster(self):
        from ..cluster import Cluster
        from ..config import CONFIG_FILENAME, SymphonyConfig
        from ..errors import BackendSettingError, SymphonyError
        config = SymphonyConfig()
        backend = selected_backend(getattr(self.args, "backend", None))
        kwargs = config.backend_kwargs(backend)
        try:
            return Cluster.new(backend, **kwargs)
        except BackendSettingError as exc:  # a value of the config's backends: section, e.g. grace: abc
            if not kwargs:
                raise
            raise SymphonyError(f"cannot create the {backend} backend with {self._settings(kwargs)} "
                                f"(backends: in {config.source or CONFIG_FILENAME}): {exc}") from None
        except SymphonyError:
            raise
        except (TypeError, ValueError) as exc:  # (a backend that does not check its own arguments yet)
            raise SymphonyError(f"cannot create the {backend} backend with {self._settings(kwargs)} "
                                f"(backends: in {config.source or CONFIG_FILENAME}): {exc}: fix that value") from None

    @staticmethod
    def _settings(kwargs):
        return ", ".join(f"{key}={value!r}" for key, value in kwargs.items()) or "no settings"

    def setup(self):
        super().setup()
        self._add_builtin_verb(SymphonyCommand, "schema")
        self._add_builtin_verb(SymphonyCommand, "dashboard")

    def _setup_schema(self):
        self.add_subparser("schema")

    def _setup_dashboard(self):
        from .. import dashboard  # argparse only: the web stack is imported when the verb runs
        dashboard.add_arguments(self.add_subparser("dashboard"))

    def action_dashboard(self, args):
        """Serve a live web page of every experiment (on 127.0.0.1, behind a token)."""
        from .. import dashboard
        return dashboard.main(args)

    def action_schema(self, args):
        """Print the JSON Schema of experiment files (for editors and CI checks)."""
        import json
        from ..spec.serialize import experiment_schema
        print(json.dumps(experiment_schema(), indent=2))


def _complete_backends(prefix, **_):
    from ..engines.registry import ALIASES, BACKENDS
    return [name for name in sorted({*BACKENDS, *ALIASES}) if name.startswith(prefix)]


def main(argv=None):
    """Entry point of the ``symphony`` script; ``main([...])`` returns the exit code instead of exiting."""
    return SymphonyCommand(prog="symphony").main(argv)
