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

How an adopted process ends must still be known (``OnFailure`` must not re-run work
that succeeded; a process killed by a signal must say so), yet only a parent learns
a process's wait status, and the adopter is not the parent. So the daemon's second
fork keeps its parent alive as the supervisor's *guardian*: a child subreaper that
does nothing until the supervisor dies; then the orphaned processes become its
children, and it writes each one's status to ``<log dir>/exits/<pid>`` before it
reaps it, for the adopter to read. One idle process per experiment, none per
process: the processes stay the supervisor's own children while it lives, their
pids are the real programs' and signals reach them directly. Only if the guardian
dies too is an ending unknown; the process is then recorded as ``lost``.

The supervisor is a child subreaper as well: processes that daemonise are
re-parented to it rather than to init, so it reaps them too.
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
from ..host.plan import LocalPlan
from ..host.processes import find_run_processes, proc_stat, signal_name, stop_run
from ..host.restarts import failures_in_a_row, restart_delay, should_restart
from ..state import ExperimentStatus, StateStore, open_private
from ..status import ProcessState

PR_SET_CHILD_SUBREAPER = 36
#: how long an adopted process that became a zombie may wait for its guardian to record its status
EXIT_RECORD_WAIT_SECONDS = 5.0


class Supervised:
    """Book-keeping of one planned process."""

    def __init__(self, plan):
        self.plan = plan
        self.pid = None
        self.started = None
        self.restarts = 0
        self.failures_in_a_row = 0
        self.restart_at = None  # when to restart it, on the monotonic clock (a wall-clock step must not delay it)
        self.adopted = False  # started by a previous supervisor: not our child, so polled, not reaped
        self.start_ticks = None  # when ``pid`` started, in clock ticks since boot: with it, the process's identity
        self.unrecorded_since = None  # when (monotonic) an adopted process was first seen ended, status unrecorded
        self.index = IndexWriter(plan.log_path)

    @property
    def running(self):
        return self.pid is not None


class Supervisor:
    def __init__(self, store, plan):
        self.store = store
        self.plan = plan
        self.children = [Supervised(p) for p in plan.processes]
        self.exits = exits_dir(plan)
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
        stat = proc_stat(popen.pid)  # (not reaped yet: readable even if it already ended)
        child.pid, child.started, child.restart_at, child.adopted = popen.pid, time.time(), None, False
        child.start_ticks = stat.start_ticks if stat else None
        self.by_pid[popen.pid] = child
        if record:
            self.store.update_process(self.plan.backend, self.plan.experiment, spec.key, **self._running_fields(child))

    @staticmethod
    def _running_fields(child):
        return dict(status=ProcessState.RUNNING, pid=child.pid, start_ticks=child.start_ticks, started=child.started,
                    exit_code=None, signal=None, finished=None, restarts=child.restarts)

    def start_all(self):
        for child in self.children:
            self.start(child, record=False)
        self.store.update_processes(self.plan.backend, self.plan.experiment,
                                    {c.plan.key: self._running_fields(c) for c in self.children})
        self.store.update_experiment(self.plan.backend, self.plan.experiment, status=ExperimentStatus.RUNNING)

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
                self.finished(child, os.waitstatus_to_exitcode(status))

    def adopt(self, rows, run_id):
        """Take over the processes of a supervisor that died (killed, OOM...).

        Every process its row says is running is adopted, live or not: :meth:`poll_adopted`
        learns how the ended ones ended from the dead supervisor's guardian. Processes
        waiting for a restart are restarted now.
        """
        live = set(find_run_processes(run_id))
        rows = {row["key"]: row for row in rows}
        for child in self.children:
            row = rows[child.plan.key]
            child.restarts, child.started = row["restarts"], row["started"] or time.time()
            if row["status"] == ProcessState.RUNNING and row["pid"]:
                child.pid, child.adopted = row["pid"], True
                child.start_ticks = row["start_ticks"]  # exact: a process that reused the pid has other ticks
                stat = proc_stat(child.pid)
                # a row an older Symphony wrote has no ticks: the pid is ours if it still carries the
                # run id, or is a zombie (it ended; its guardian records how)
                if child.start_ticks is None and stat is not None and (child.pid in live or stat.state == "Z"):
                    child.start_ticks = stat.start_ticks
            elif row["status"] == ProcessState.RESTARTING:
                child.restart_at = time.monotonic()

    def poll_adopted(self):
        """Record the end of adopted processes that ended, with the status their guardian wrote."""
        for child in [c for c in self.children if c.adopted]:
            stat = proc_stat(child.pid)
            ours = stat is not None and stat.start_ticks == child.start_ticks
            if ours and stat.state != "Z":
                continue
            code = _read_exit(self.exits, child.pid, child.start_ticks)
            if code is None and ours:  # a zombie: its guardian records its status before reaping it
                child.unrecorded_since = child.unrecorded_since or time.monotonic()
                if time.monotonic() - child.unrecorded_since < EXIT_RECORD_WAIT_SECONDS:
                    continue
            self.finished(child, code)

    def finished(self, child, code):
        """Record how ``child`` ended and maybe restart it.

        ``code``: the exit code, minus the killing signal, or None if nobody could observe
        the end (then the process is ``lost`` and counts as a failure for ``OnFailure``).
        """
        now = time.time()
        child.index.update(now, force=True)
        if code is None:
            exit_code, killed_by, state = None, None, ProcessState.LOST
        elif code >= 0:
            exit_code, killed_by, state = code, None, ProcessState.EXITED
        else:
            exit_code, killed_by, state = None, signal_name(-code), ProcessState.KILLED
        ran_for = _ran_for(child, now)
        child.pid, child.adopted, child.start_ticks, child.unrecorded_since = None, False, None, None
        fields = dict(pid=None, start_ticks=None, exit_code=exit_code, signal=killed_by, finished=now, status=state)
        if not self.stopping and should_restart(child.plan.restart_policy, exit_code, killed_by):
            child.failures_in_a_row = failures_in_a_row(ran_for, child.failures_in_a_row)
            child.restart_at = time.monotonic() + restart_delay(self.plan.restart_backoff, child.failures_in_a_row)
            fields["status"] = ProcessState.RESTARTING
        self.store.update_process(self.plan.backend, self.plan.experiment, child.plan.key, **fields)

    def restart_due(self):
        due, now = time.monotonic(), time.time()
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= due and not self.stopping:
                child.restarts += 1
                try:
                    self.start(child)
                except OSError as exc:
                    child.restart_at = None
                    self.store.update_process(self.plan.backend, self.plan.experiment, child.plan.key,
                                              status=ProcessState.EXITED, exit_code=127, finished=now)
                    print(f"restart of {child.plan.key} failed: {exc}", file=sys.stderr, flush=True)

    def all_done(self):
        return all(not c.running and c.restart_at is None for c in self.children)

    def next_timeout(self):
        pending = [c.restart_at for c in self.children if c.restart_at is not None]
        timeout = 0.5
        if pending:
            timeout = max(0.0, min(timeout, min(pending) - time.monotonic()))
        return timeout

    # --- stopping -----------------------------------------------------------------
    def stop_all(self):
        """Stop every process of the run (their descendants too), then record how they ended."""
        self.stopping = True
        stop_run(self.plan.run_id, grace=self.plan.grace,
                 recorded=[(c.pid, c.start_ticks) for c in self.children if c.pid is not None])
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
                self.store.update_experiment(self.plan.backend, self.plan.experiment, status=ExperimentStatus.FINISHED)
                return
        self.stop_all()


def _ran_for(child, now):
    """How long ``child``'s run lasted, in seconds: from its start ticks where known (a wall-clock
    step in between changes nothing), else from its recorded wall-clock start."""
    if child.start_ticks is not None and hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME) - child.start_ticks / os.sysconf("SC_CLK_TCK")
    return now - (child.started or now)


def exits_dir(plan):
    """Where a dead supervisor's guardian records how the orphaned processes ended."""
    return os.path.join(os.path.dirname(plan.processes[0].log_path), "exits")


def _read_exit(directory, pid, start_ticks):
    """The recorded exit code (minus the signal) of ``pid``, None if none was recorded.

    The record is removed once read. ``start_ticks`` (None: not known) must match the
    record's, so that a record of an earlier process with the same pid is never taken.
    """
    path = os.path.join(directory, str(pid))
    try:
        with open(path) as handle:
            ticks, code = (int(field) for field in handle.read().split())
        os.unlink(path)
    except (OSError, ValueError):
        return None
    return code if start_ticks in (None, ticks) else None


def _record_exit(directory, pid, code):
    """Write ``pid``'s start time and exit code (minus the signal) atomically, readable by the owner only."""
    stat = proc_stat(pid)  # still there: the caller has not reaped it yet
    if stat is None:
        return
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return  # the experiment was deleted: nobody will ask
    temporary = os.path.join(directory, f".{pid}.tmp")
    try:
        with open_private(temporary, "w") as handle:
            handle.write(f"{stat.start_ticks} {code}\n")
        os.replace(temporary, os.path.join(directory, str(pid)))
    except OSError:
        pass


def _guard(supervisor_pid, directory):
    """The supervisor's parent until it has no children left (see the module's docstring).

    While the supervisor lives, it only waits for it. Once it is dead, its orphans
    (subreaper: ours, not init's) end here: each one's status is recorded before it is
    reaped (``WNOWAIT``), so that whoever finds the pid gone also finds its record.
    """
    while True:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:  # (only with WNOHANG)
            continue
        if ended.si_pid != supervisor_pid:
            code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
            _record_exit(directory, ended.si_pid, code)
        os.waitpid(ended.si_pid, 0)


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
    store = StateStore()
    row = store.get_experiment(backend, experiment)
    store.close()  # a connection must not cross fork()
    if row is None:  # deleted before its supervisor got going: nothing to supervise
        _report(f"error experiment {experiment!r} was deleted meanwhile")
        return 1
    plan = LocalPlan.from_dict(json.loads(row["plan"]))
    _detach_stdio(os.path.join(os.path.dirname(plan.processes[0].log_path), "supervisor.log"))
    _become_subreaper()
    supervisor_pid = os.fork()
    if supervisor_pid > 0:
        try:  # this parent stays, as the guardian; the supervisor, no session leader, can never get a terminal
            _release_stdout()
            _guard(supervisor_pid, exits_dir(plan))
        finally:
            os._exit(0)
    _become_subreaper()  # not inherited across fork()
    store = StateStore()
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
        store.count_adoption(backend, experiment)
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
    _release_stdout()


def _release_stdout():
    """Let go of the launcher's pipe: it reads until the end of the file if no answer came."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
