"""Helpers for the tests of the original Symphony's documented API and examples."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(path, *argv, cwd=None, timeout=60, stdin=None):
    """Run a user's script with this interpreter and the repository importable, as ``python script.py``."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(path), *argv], cwd=cwd or os.path.dirname(str(path)), env=env,
                          capture_output=True, text=True, timeout=timeout, input=stdin)


@pytest.fixture
def write(tmp_path):
    """Write a file of the user's project under tmp_path; returns its path."""
    def write_file(name, text):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path
    return write_file
