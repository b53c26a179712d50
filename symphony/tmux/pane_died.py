"""The ``pane-died`` hook of every Symphony window: record the exit, apply the restart policy.

tmux has no supervisor, but with ``remain-on-exit on`` a pane whose process ended
stays (dead), and its ``pane-died`` hook runs this module in the background
(``run-shell -b``)::

    python -m symphony.tmux.pane_died SERVER EXPERIMENT KEY RUN_ID PANE_ID STATUS SIGNAL FAILURES

It records how the process ended in the state database and, if the restart policy
asks for it (:func:`symphony.host.restarts.should_restart`: ``Always``, or
``OnFailure`` after a non-zero exit or a signal), waits the backoff delay, respawns
the pane with the planned command and environment (``respawn-pane``; the pane's log
pipe stays attached) and counts the restart.

Backoff as on the local backend (:mod:`symphony.host.restarts`): ``restart_backoff``
doubled per quick failure in a row, at most 30 s; a process that ran
``STABLE_RUN_SECONDS`` resets it. The count of quick failures lives in the window's
``@symphony-failures`` option (FAILURES).

The hook carries the experiment's run marker, so ``delete`` also stops a hook that
is still waiting to restart; and it re-checks the experiment's run id before acting,
so a late hook can never touch a later experiment of the same name.
"""

import json
import os
import sys
import time

from ..host.plan import LocalPlan
from ..host.processes import signal_name
from ..host.restarts import failures_in_a_row, restart_delay, should_restart
from ..state import ExperimentStatus, StateStore
from ..status import ProcessState
from .client import BACKEND, source_script
from .script import TmuxPlan


def _current(store, experiment, run_id):
    """The experiment's row if it is still this run and not being deleted, else None."""
    row = store.get_experiment(BACKEND, experiment)
    if row is None or row["run_id"] != run_id or row["status"] == ExperimentStatus.DELETING:
        return None
    return row


def handle(store, server, experiment, key, run_id, pane_id, status, signal_number, failures):
    row = _current(store, experiment, run_id)
    if row is None:
        return "experiment gone"
    now = time.time()
    process = store.get_process(BACKEND, experiment, key)
    killed_by = signal_name(int(signal_number)) if signal_number else None
    exit_code = int(status) if status and killed_by is None else None
    ended = dict(pid=None, exit_code=exit_code, signal=killed_by, finished=now,
                 status=ProcessState.KILLED if killed_by else ProcessState.EXITED)
    plan = LocalPlan.from_dict(json.loads(row["plan"]))
    planned = next(p for p in plan.processes if p.key == key)
    if not should_restart(planned.restart_policy, exit_code, killed_by):
        store.update_process(BACKEND, experiment, key, **ended)
        return "exited"

    ran_for = now - (process["started"] or now)
    failures = failures_in_a_row(ran_for, int(failures or 0))
    store.update_process(BACKEND, experiment, key, **{**ended, "status": ProcessState.RESTARTING})
    time.sleep(restart_delay(plan.restart_backoff, failures))
    if _current(store, experiment, run_id) is None:
        return "experiment gone"
    tmux_plan = TmuxPlan(plan, server, sys.executable, store.home)
    log_dir = os.path.dirname(planned.log_path)
    result = source_script(server, os.path.join(log_dir, f"respawn{pane_id.lstrip('%')}.tmux"),
                           tmux_plan.script(tmux_plan.respawn_commands(planned, pane_id, failures)))
    if result.returncode != 0:
        store.update_process(BACKEND, experiment, key, **ended)
        return f"restart failed: {result.stderr.strip()}"
    store.update_process(BACKEND, experiment, key, status=ProcessState.RUNNING, restarts=process["restarts"] + 1,
                         started=time.time(), exit_code=None, signal=None, finished=None)
    return "restarted"


def main(argv=None):
    server, experiment, key, run_id, pane_id, status, signal_number, failures = (argv or sys.argv[1:])[:8]
    store = StateStore()
    try:
        outcome = handle(store, server, experiment, key, run_id, pane_id, status, signal_number, failures)
    except Exception as exc:  # never let tmux show a traceback in a pane; the hook log keeps it
        outcome = f"error {type(exc).__name__}: {exc}"
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {experiment} {key} ({pane_id}): {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
