"""The per-experiment supervisor of the local backend.

Why a supervisor: the launching Python process may exit right after ``launch``
(it usually does), yet someone must reap the processes, record how they ended,
restart them by policy and keep the log index. One small daemon per experiment
does that; it is double-forked with no terminal, so closing the terminal that
launched the experiment changes nothing.

It is started as ``python -m symphony.local.supervisor <backend> <experiment>``;
the plan is read from the state database. It reports readiness on its stdout
(a pipe to the launcher): ``ok`` once every process has started, or
``error <message>`` after stopping whatever it had started.

If a supervisor dies (``kill -9``, the OOM killer), the next query of the
experiment (``symphony p``, ``logs``) starts a new one with ``--adopt``, which
takes the running processes over; ``symphony p`` then says so.

It is also a *child subreaper*: processes that daemonise are re-parented to it
rather than to init, so it reaps them too.
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time

from ..host.logs import IndexWriter
from ..host.processes import find_run_processes, signal_name, stop_run
from ..state import StateStore, open_private
from .plan import LocalPlan

PR_SET_CHILD_SUBREAPER = 36
#: a process that ran at least this long resets its restart backoff
STABLE_RUN_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0


def restart_delay(backoff, failures_in_a_row):
    """Seconds before the next restart: ``backoff`` doubling per quick failure, at most 30 s."""
    return min(MAX_BACKOFF_SECONDS, backoff * 2 ** max(0, failures_in_a_row - 1))


class Supervised:
    """Book-keeping of one planned process."""

    def __init__(self, plan):
        self.plan = plan
        self.pid = None
        self.started = None
        self.restarts = 0
        self.failures_in_a_row = 0
        self.restart_at = None
        self.adopted = False  # started by a previous supervisor: not our child, so polled, not reaped
        self.index = IndexWriter(plan.log_path)

    @property
    def running(self):
        return self.pid is not None


class Supervisor:
    def __init__(self, store, plan):
        self.store = store
        self.plan = plan
        self.children = [Supervised(p) for p in plan.processes]
        self.by_pid = {}
        self.stopping = False

    # --- starting -----------------------------------------------------------------
    def start(self, child, record=True):
        """Start one process; ``record=False`` leaves the state update to the caller (batching)."""
        spec = child.plan
        with open_private(spec.log_path, "a") as log:
            popen = subprocess.Popen(
                spec.argv, cwd=spec.cwd, env={**os.environ, **spec.env}, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        popen.returncode = 0  # we reap with waitpid(-1); keep Popen from reaping or warning
        child.pid, child.started, child.restart_at, child.adopted = popen.pid, time.time(), None, False
        self.by_pid[popen.pid] = child
        if record:
            self.store.update_process(self.plan.backend, self.plan.experiment, spec.key, **self._running_fields(child))

    @staticmethod
    def _running_fields(child):
        return dict(status="running", pid=child.pid, started=child.started, exit_code=None, signal=None,
                    finished=None, restarts=child.restarts)

    def start_all(self):
        for child in self.children:
            self.start(child, record=False)
        self.store.update_processes(self.plan.backend, self.plan.experiment,
                                    {c.plan.key: self._running_fields(c) for c in self.children})
        self.store.update_experiment(self.plan.backend, self.plan.experiment, status="running")

    # --- reaping and restarting ---------------------------------------------------
    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.by_pid.pop(pid, None)
            if child is not None:
                self.finished(child, status)

    def adopt(self, rows, run_id):
        """Take over the processes of a supervisor that died (killed, OOM...).

        Live processes are adopted and polled; their exit code is unknown to us (they
        are not our children), so an adopted process that ends counts as a failure for
        the restart policy. Processes waiting for a restart are restarted now.
        """
        live = set(find_run_processes(run_id))
        rows = {row["key"]: row for row in rows}
        for child in self.children:
            row = rows[child.plan.key]
            child.restarts, child.started = row["restarts"], row["started"] or time.time()
            if row["status"] == "running" and row["pid"] in live:
                child.pid, child.adopted = row["pid"], True
                self.by_pid[child.pid] = child
            elif row["status"] in ("running", "restarting"):
                child.restart_at = time.time() if row["status"] == "restarting" else None
                if row["status"] == "running":  # died while nobody watched
                    self.finished(child, None)

    def poll_adopted(self):
        for child in [c for c in self.children if c.adopted and c.pid is not None]:
            if not _running(child.pid):
                self.by_pid.pop(child.pid, None)
                self.finished(child, None)

    def finished(self, child, status):
        """Record how ``child`` ended (``status`` from waitpid, None if unknown) and maybe restart it."""
        now = time.time()
        child.index.update(now, force=True)
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        if code is None:
            exit_code, killed_by = None, None
        else:
            exit_code, killed_by = (code, None) if code >= 0 else (None, signal_name(-code))
        ran_for = now - child.started
        child.pid, child.adopted = None, False
        failed = code != 0
        policy = child.plan.restart_policy
        restart = not self.stopping and (policy == "Always" or (policy == "OnFailure" and failed))
        fields = dict(pid=None, exit_code=exit_code, signal=killed_by, finished=now,
                      status="exited" if killed_by is None else "killed")
        if restart:
            child.failures_in_a_row = 0 if ran_for >= STABLE_RUN_SECONDS else child.failures_in_a_row + 1
            child.restart_at = now + restart_delay(self.plan.restart_backoff, child.failures_in_a_row)
            fields["status"] = "restarting"
        self.store.update_process(self.plan.backend, self.plan.experiment, child.plan.key, **fields)

    def restart_due(self):
        now = time.time()
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= now and not self.stopping:
                child.restarts += 1
                try:
                    self.start(child)
                except OSError as exc:
                    child.restart_at = None
                    self.store.update_process(self.plan.backend, self.plan.experiment, child.plan.key,
                                              status="exited", exit_code=127, finished=now)
                    print(f"restart of {child.plan.key} failed: {exc}", file=sys.stderr, flush=True)

    def all_done(self):
        return all(not c.running and c.restart_at is None for c in self.children)

    def next_timeout(self):
        pending = [c.restart_at for c in self.children if c.restart_at is not None]
        timeout = 0.5
        if pending:
            timeout = max(0.0, min(timeout, min(pending) - time.time()))
        return timeout

    # --- stopping -----------------------------------------------------------------
    def stop_all(self):
        """Stop every process of the run (their descendants too), then record how they ended."""
        self.stopping = True
        stop_run(self.plan.run_id, grace=self.plan.grace)
        self.reap()

    def run(self, wakeup_fd):
        while not self.stopping:
            readable, _, _ = select.select([wakeup_fd], [], [], self.next_timeout())
            if readable:
                try:
                    os.read(wakeup_fd, 512)
                except BlockingIOError:
                    pass
            self.reap()
            self.poll_adopted()
            if self.stopping:
                break
            self.restart_due()
            for child in self.children:
                child.index.update()
            if self.all_done():
                self.store.update_experiment(self.plan.backend, self.plan.experiment, status="finished")
                return
        self.stop_all()


def _running(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _become_subreaper():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: daemonised grandchildren go to init; delete still finds them by run id


def _detach_stdio(log_path):
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)


def main(argv=None):
    """``<backend> <experiment> [--adopt]``: start the plan's processes, or adopt the running ones."""
    argv = argv or sys.argv[1:]
    backend, experiment = argv[:2]
    adopting = "--adopt" in argv[2:]
    if os.fork() > 0:
        os._exit(0)  # first fork's parent: the launcher reaps it at once
    os.setsid()
    if os.fork() > 0:
        os._exit(0)  # second fork: we can never reacquire a controlling terminal
    store = StateStore()
    row = store.get_experiment(backend, experiment)
    plan = LocalPlan.from_dict(json.loads(row["plan"]))
    _detach_stdio(os.path.join(os.path.dirname(plan.processes[0].log_path), "supervisor.log"))
    _become_subreaper()
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    supervisor = Supervisor(store, plan)

    def request_stop(signum, frame):
        supervisor.stopping = True
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    store.update_experiment(backend, experiment, supervisor_pid=os.getpid())
    if adopting:
        supervisor.adopt(store.processes(backend, experiment), plan.run_id)
        store.update_experiment(backend, experiment, adoptions=row["adoptions"] + 1)
        _report("ok")
        supervisor.run(read_fd)
        return 0

    try:
        supervisor.start_all()
    except OSError as exc:
        supervisor.stop_all()
        program = getattr(exc, "filename", None) or ""
        _report(f"error cannot start {program}: {exc.strerror or exc}")
        return 1
    _report("ok")
    supervisor.run(read_fd)
    return 0


def _report(message):
    """Tell the launcher how the start went, then let go of its pipe."""
    try:
        os.write(1, (message + "\n").encode())
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
