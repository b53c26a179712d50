"""What the hardening tests look at: the processes of an experiment, found by scanning /proc.

Every process Symphony starts carries ``SYMPH_EXPERIMENT`` (on every backend: containers'
processes are this host's processes too) and, on host backends, ``SYMPH_RUN_ID``; a scan
of every process's environment therefore finds whatever an experiment left behind, even
daemons and processes a failed launch lost track of. The scan and the state-row check live
in tests/leftovers.py (shared with tests/test_bad_input.py) and are re-exported here.
"""

import os

import psutil
from leftovers import experiment_pids, scan, state_rows  # noqa: F401 (shared with tests/test_bad_input.py)
from waiting import wait_for  # noqa: F401 (re-exported to the tests that import it from here)

BASE_IMAGE = "symphony-test-base:latest"


def process_pid(experiment, key, timeout=20.0):
    """Pid of the user's process ``key`` itself (not a wrapper shell), once it runs."""
    def newest():
        pids = [pid for pid in scan(SYMPH_EXPERIMENT=experiment, SYMPH_PROCESS=key) if not _tmux_runner(pid)]
        # the process itself is the one none of whose children is marked the same way
        leaves = [pid for pid in pids if not any(child.pid in pids for child in _children(pid))]
        return leaves[0] if len(leaves) == 1 else None
    return wait_for(newest, timeout)


def _tmux_runner(pid):
    """Whether ``pid`` is a tmux window's runner (it carries its process's environment, markers included)."""
    try:
        return any(arg.endswith((os.path.join("symphony", "tmux", "runner.pl"), os.path.join("symphony", "tmux", "runner.py")))
                   for arg in psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _children(pid):
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []
