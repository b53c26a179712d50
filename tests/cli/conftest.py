"""CLI test helpers: an isolated config lookup, a fast local backend, and `run` for main([...])."""

import pytest

from symphony.config import SymphonyConfig

@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """No config file of the person running the tests can leak in: cwd and HOME are empty dirs."""
    workdir = tmp_path / "work"
    home = tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SYMPH_GLOBAL_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    SymphonyConfig()._reset()
    return workdir


@pytest.fixture
def fast_local():
    """The `symphony` command's local backend, with short grace and restart delays."""
    SymphonyConfig().set_backend_kwargs("local", grace=2.0, restart_backoff=0.2)


@pytest.fixture
def run(capfd, fast_local):
    """``run('p', 'exp')`` -> (exit code, stdout, stderr) of ``symphony.cli.main.main``.

    Captured at the file-descriptor level, so what `exec` runs is captured too.
    """
    from symphony.cli.main import main

    def invoke(*argv):
        capfd.readouterr()
        code = main([str(a) for a in argv])
        out, err = capfd.readouterr()
        return code, out, err
    return invoke
