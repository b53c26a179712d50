"""``Cluster.new('local')``: every process a plain child of a per-experiment supervisor.

The default backend: nothing to install, and what runs here runs the same way in
tmux, Docker or Kubernetes, because all of them share the model, the resolver and
the command construction. What it shares with the tmux backend (planning, records,
delete, logs, exec) is :class:`symphony.host.cluster.HostCluster`; its own part is
the supervisor daemon (:mod:`symphony.local.supervisor`) and reading the state it keeps.
"""

import json
import os
import select
import subprocess
import sys
import time

from ..cluster import ProcessStatus
from ..errors import LaunchError
from ..host.cluster import HostCluster
from ..resolution.capabilities import HOST, with_backend
from ..host.processes import RUN_ID_VAR, is_alive, parent_pid
from ..state import ExperimentStatus
from ..status import FINAL_STATES, ProcessState

READY_TIMEOUT = 120.0


class LocalCluster(HostCluster):
    """Processes on this machine. ``grace``: seconds between SIGTERM and SIGKILL on delete;
    ``restart_backoff``: first delay before a restart (doubling up to 30 s); ``bind_host``:
    the interface servers are told to listen on (``SYMPH_BIND_HOST``; loopback unless you
    ask, e.g. ``'0.0.0.0'`` to be reachable from other machines)."""

    backend_name = "local"
    capabilities = with_backend(HOST, "local")

    def _start_supervisor(self, plan, adopt=False):
        env = {**os.environ, RUN_ID_VAR: plan.run_id, "SYMPHONY_HOME": self.store.home}
        launcher = subprocess.Popen(
            [sys.executable, "-m", "symphony.local.supervisor", plan.backend, plan.experiment]
            + (["--adopt"] if adopt else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, close_fds=True)
        launcher.wait()  # the first fork exits at once; the daemon keeps our pipe until it is ready
        if not adopt:
            self._fault_point("ready", plan)  # the supervisor runs, its processes may be starting
        deadline = time.monotonic() + READY_TIMEOUT
        with launcher.stdout:
            ready, _, _ = select.select([launcher.stdout], [], [], READY_TIMEOUT)
            answer = launcher.stdout.readline().decode().strip() if ready else ""
        if answer != "ok":
            if answer.startswith("error "):
                raise LaunchError(f"launch of {plan.experiment!r} failed, nothing was left running: {answer[6:]}")
            remaining = deadline - time.monotonic()
            reason = "did not start in time" if remaining <= 0 else "died before starting the processes"
            raise LaunchError(f"the supervisor of {plan.experiment!r} {reason}; see "
                              f"{os.path.join(self._log_dir(plan.experiment), 'supervisor.log')}")

    # --- queries ------------------------------------------------------------------
    def _ensure_supervised(self, row):
        """Re-adopt a running experiment whose supervisor died; returns the current row.

        Only one caller wins the claim (conditioned on the dead pid), so two concurrent
        ``symphony p`` never start two supervisors.
        """
        if row["status"] != ExperimentStatus.RUNNING or is_alive(row["supervisor_pid"]):
            return row
        if self.store.claim_supervision(self.backend_name, row["name"], row["supervisor_pid"]):
            from ..host.plan import LocalPlan
            self._start_supervisor(LocalPlan.from_dict(json.loads(row["plan"])), adopt=True)
        return self._experiment_row(row["name"])

    def describe_experiment(self, name):
        row = self._ensure_supervised(self._experiment_row(name))
        adopted = f"re-adopted after its supervisor died ({row['adoptions']}×)" if row["adoptions"] else ""
        statuses = []
        for proc in self.store.processes(self.backend_name, name):
            state = ProcessState(proc["status"])
            running = state is ProcessState.RUNNING
            statuses.append(ProcessStatus(
                key=proc["key"], group=proc["grp"], name=proc["name"], state=state,
                ready=running, restarts=proc["restarts"], exit_code=proc["exit_code"],
                signal=proc["signal"], started=proc["started"], finished=proc["finished"],
                pid=proc["pid"], detail=adopted if running and adopted and
                parent_pid(proc["pid"]) != row["supervisor_pid"] else ""))  # not restarted by the new supervisor
        return statuses

    def _still_running(self, experiment, key):
        """Whether ``logs --follow`` should keep waiting for more output of ``key``."""
        exp_row = self.store.get_experiment(self.backend_name, experiment)
        current = self.store.get_process(self.backend_name, experiment, key)
        return current is not None and ProcessState(current["status"]) not in FINAL_STATES and exp_row is not None \
            and is_alive(exp_row["supervisor_pid"])
