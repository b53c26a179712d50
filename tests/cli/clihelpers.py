"""Helpers shared by the CLI tests (importable by name: pytest puts tests/cli on sys.path)."""

import os
import subprocess
import sys

from symphony.local import LocalCluster
from waiting import wait_for  # noqa: F401 (re-exported to the tests that import it from here)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli_env(**extra):
    """Environment for running `symphony` as a real process (same SYMPHONY_HOME, HOME and cwd rules)."""
    env = {name: value for name, value in os.environ.items() if name != "_ARGCOMPLETE"}
    env.update(extra)
    return env


def symphony_process(*argv, **kwargs):
    """Run the `symphony` command in a subprocess (for stdin, ttys and exit codes of the real script)."""
    return subprocess.run([sys.executable, "-m", "symphony.cli", *argv], capture_output=True, text=True,
                          timeout=60, env=kwargs.pop("env", cli_env()), **kwargs)


def parse_table(text):
    """Rows of a plain `symphony p` table as dicts, cut at the header's column starts."""
    header, *lines = text.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = starts[1:] + [None]
    return [{name: line[start:end].strip() for name, start, end in zip(names, starts, ends)} for line in lines]


class OtherLocalCluster(LocalCluster):
    """A second host backend (``monkeypatch.setitem(BACKENDS, 'other', 'clihelpers:OtherLocalCluster')``),
    to check that the backend choice and the current experiment are per backend."""

    backend_name = "other"
