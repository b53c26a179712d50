"""Shared fixtures: every test gets its own SYMPHONY_HOME, and nothing it launched survives it.

With ``SYMPHONY_REQUIRE_ENGINES=tmux,docker`` (CI sets it), a test skipped because a listed
engine is absent fails instead (tests/engines.py).
"""

import pytest

from engines import pytest_runtest_makereport  # noqa: F401 (the hook: required engines never skip)
from symphony.config import SymphonyConfig


@pytest.fixture(autouse=True)
def symphony_home(tmp_path, monkeypatch):
    """A private state directory per test, so tests never see each other's experiments."""
    home = tmp_path / "symphony-home"
    monkeypatch.setenv("SYMPHONY_HOME", str(home))
    # a developer's own ~/.symphony.yml or $SYMPH_GLOBAL_CONFIG must not leak into tests
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.delenv("SYMPH_GLOBAL_CONFIG", raising=False)
    monkeypatch.delenv("SYMPHONY_BACKEND", raising=False)
    SymphonyConfig()._reset()
    yield home
    SymphonyConfig()._reset()
    _delete_leftovers(home)


def _delete_leftovers(home):
    """Delete whatever a failing test left running (local backend state in this home)."""
    if not (home / "state.db").exists():
        return
    from symphony.state import StateStore
    from symphony.host.processes import stop_run
    store = StateStore(str(home))
    for row in store.db.execute("SELECT backend, name, run_id FROM experiments").fetchall():
        stop_run(row["run_id"], grace=1.0)
        store.delete_experiment(row["backend"], row["name"])
    store.close()


@pytest.fixture
def local_cluster():
    from symphony import Cluster
    return Cluster.new("local", grace=2.0, restart_backoff=0.2)
