"""What the hardening tests look at: the processes of an experiment, found by scanning /proc.

Every process Symphony starts carries ``SYMPH_EXPERIMENT`` (on every backend: containers'
processes are this host's processes too) and, on host backends, ``SYMPH_RUN_ID``; a scan
of every process's environment therefore finds whatever an experiment left behind, even
daemons and processes a failed launch lost track of.
"""

import os

import psutil
from waiting import wait_for  # noqa: F401 (re-exported to the tests that import it from here)

BASE_IMAGE = "symphony-test-base:latest"


def scan(**markers):
    """Pids of live processes whose environment has every ``NAME=value`` in ``markers``."""
    wanted = {f"{name}={value}".encode() for name, value in markers.items()}
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                entries = set(handle.read().split(b"\0"))
            if wanted <= entries and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):
            pass
    return found


def experiment_pids(name, run_ids=()):
    """Live processes of experiment ``name``: by SYMPH_EXPERIMENT, and by each run id given."""
    pids = set(scan(SYMPH_EXPERIMENT=name))
    for run_id in run_ids:
        pids |= set(scan(SYMPH_RUN_ID=run_id))
    return sorted(pids)


def process_pid(experiment, key, timeout=20.0):
    """Pid of the user's process ``key`` itself (not a wrapper shell), once it runs."""
    def newest():
        pids = scan(SYMPH_EXPERIMENT=experiment, SYMPH_PROCESS=key)
        # the process itself is the one none of whose children is marked the same way
        leaves = [pid for pid in pids if not any(child.pid in pids for child in _children(pid))]
        return leaves[0] if len(leaves) == 1 else None
    return wait_for(newest, timeout)


def _children(pid):
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def state_rows(home, name):
    """Rows of every state table that mention experiment ``name``."""
    from symphony.state import StateStore
    if not os.path.exists(os.path.join(home, "state.db")):
        return []  # nothing ever touched the state
    store = StateStore(str(home))
    try:
        return [tuple(row) for table, column in (("experiments", "name"), ("processes", "experiment"),
                                                  ("ports", "experiment"))
                for row in store.db.execute(f"SELECT * FROM {table} WHERE {column} = ?", (name,))]
    finally:
        store.close()
