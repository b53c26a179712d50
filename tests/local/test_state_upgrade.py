"""The state file across Symphony versions: older files are upgraded in place, newer ones refused.

An experiment launched by an older Symphony must stay visible, re-adoptable and
deletable after the user upgrades (the column ``adoptions`` did not exist at first);
a file written by a newer Symphony must not be misread.
"""

import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from symphony.errors import StateError
from symphony.state import ADDED_COLUMNS, SCHEMA_VERSION, StateStore, symphony_home


def downgrade_to_first_release(path):
    """Make ``path`` look as the first release left it: no added columns, no schema version."""
    db = sqlite3.connect(path)
    for table, column, _ in ADDED_COLUMNS:
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()


def columns(path, table):
    db = sqlite3.connect(path)
    try:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    finally:
        db.close()


def symphony(*argv):
    return subprocess.run([sys.executable, "-m", "symphony.cli", *argv], capture_output=True, text=True, timeout=60)


def test_a_new_state_file_carries_the_schema_version(symphony_home):
    store = StateStore()
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_an_experiment_launched_by_an_older_symphony_survives_the_upgrade(local_cluster, symphony_home, tmp_path):
    exp = local_cluster.new_experiment("legacy")
    exp.new_process("server", command="sleep", args=["600"]).binds("web")
    exp.new_process("client", cmds=["echo $SYMPH_WEB_PORT", "exec sleep 600"]).connects("web")
    local_cluster.launch(exp)
    local_cluster.store.close()
    del local_cluster._store
    path = str(symphony_home / "state.db")
    downgrade_to_first_release(path)
    assert "adoptions" not in columns(path, "experiments")

    listing = symphony("p", "legacy")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("running") == 2
    assert "adoptions" in columns(path, "experiments")
    store = StateStore()
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.get_experiment("local", "legacy")["adoptions"] == 0
    store.close()

    deleted = symphony("delete", "-f", "legacy")
    assert deleted.returncode == 0, deleted.stderr
    assert symphony("ls").stdout.strip() == ""


def test_many_processes_upgrading_at_once_all_succeed(symphony_home):
    StateStore().close()
    path = str(symphony_home / "state.db")
    downgrade_to_first_release(path)
    opener = "from symphony.state import StateStore; StateStore().get_setting('x'); print('ok')"
    openers = [subprocess.Popen([sys.executable, "-c", opener], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(6)]
    results = [opener.communicate(timeout=60) for opener in openers]
    assert [(p.returncode, out) for p, (out, _) in zip(openers, results)] == [(0, "ok\n")] * 6, results
    assert "adoptions" in columns(path, "experiments")


def test_a_state_file_from_a_newer_symphony_is_refused_with_the_fix(symphony_home):
    StateStore().close()
    path = str(symphony_home / "state.db")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer Symphony"):
        StateStore()
    result = symphony("ls")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "upgrade Symphony, or set SYMPHONY_HOME" in result.stderr
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1, "the newer file is left untouched"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # let the fixture's cleanup read it
    db.commit()
    db.close()


def test_a_damaged_state_file_is_one_line_naming_the_fix(symphony_home):
    symphony_home.mkdir()
    (symphony_home / "state.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StateError, match="is not a usable Symphony state database .*move it aside"):
        StateStore()
    result = symphony("ls")
    assert result.returncode == 1 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    (symphony_home / "state.db").unlink()


def test_a_state_directory_that_is_a_file_or_too_open(symphony_home, monkeypatch):
    symphony_home.write_text("oops")
    result = symphony("ls")
    assert result.returncode == 1 and "is a file, not a directory: move the file aside" in result.stderr
    symphony_home.unlink()
    StateStore().close()  # a state directory an older Symphony left readable by others
    os.chmod(symphony_home, 0o755)
    assert symphony("ls").returncode == 0
    assert stat.S_IMODE(os.stat(symphony_home).st_mode) == 0o700


def test_a_users_own_directory_as_symphony_home_keeps_its_mode(tmp_path, monkeypatch):
    """SYMPHONY_HOME=~ (or a project directory) must not make that directory private."""
    own = tmp_path / "project"
    own.mkdir()
    os.chmod(own, 0o755)
    monkeypatch.setenv("SYMPHONY_HOME", str(own))
    assert symphony_home() == str(own)
    assert stat.S_IMODE(os.stat(own).st_mode) == 0o755
