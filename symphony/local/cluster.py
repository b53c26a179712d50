"""``Cluster.new('local')``: every process a plain child of a per-experiment supervisor.

The default backend: nothing to install, and what runs here runs the same way in
tmux, Docker or Kubernetes, because all of them share the model, the resolver and
the command construction. What it shares with the tmux backend (planning, records,
delete, logs, exec) is :class:`symphony.host.cluster.HostCluster`; its own part is
the supervisor daemon (:mod:`symphony.local.supervisor`) and reading the state it keeps.
"""

import os
import sys
import time

from ..cluster import ProcessStatus
from ..cluster.launching import rollback_shield
from ..cluster.progress import launch_progress
from ..errors import LaunchError, StateError, SymphonyError
from ..host.cluster import HostCluster
from ..host.readiness import READINESS_FILE, apply_readiness, read_document
from ..resolution.capabilities import HOST, with_backend
from ..host.processes import RUN_ID_VAR, is_alive, parent_pid
from ..state import ExperimentStatus, closed_for_fork
from ..status import FINAL_STATES, ProcessState
from .boot import GUARDIAN_BOOT, SUPERVISOR_BOOT, interpreter

READY_TIMEOUT = 120.0


class LocalCluster(HostCluster):
    """Processes on this machine. ``grace``: seconds between SIGTERM and SIGKILL on delete;
    ``restart_backoff``: first delay before a restart (doubling up to 30 s); ``bind_host``:
    the interface servers are told to listen on (``SYMPH_BIND_HOST``; loopback unless you
    ask, e.g. ``'0.0.0.0'`` to be reachable from other machines)."""

    backend_name = "local"
    capabilities = with_backend(HOST, "local")

    def _spawn_supervisor(self, backend, experiment, run_id, adopt=False, wait=False):
        import subprocess  # (here: `symphony p` never starts one, and subprocess brings threading)
        env = {**os.environ, RUN_ID_VAR: run_id, "SYMPHONY_HOME": self.store.home}
        return subprocess.Popen(
            interpreter(SUPERVISOR_BOOT) + [backend, experiment]
            + (["--adopt"] if adopt else []) + (["--wait"] if wait else []),
            stdin=subprocess.PIPE if wait else subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, close_fds=True)

    #: how a launch starts the supervisor: ``"fork"`` it out of this process where that is safe
    #: (:func:`_may_fork`), else (and with ``"exec"``) a new interpreter
    supervisor_start = "fork"

    def _prepare_start(self, exp, run_id):
        """Get the supervisor's start going while the launch plans and records the experiment; it then
        waits for :meth:`_start_supervisor`'s word on its stdin, and ends without it (:meth:`_abandon_start`,
        or this process gone).

        Where this process may fork (:func:`_may_fork`), the supervisor is a fork of it, with every module
        it needs imported already (:func:`symphony.local.supervisor.forked_start`). Else its interpreter
        starts now: its start-up (tens of milliseconds of CPU, more on a loaded machine) then overlaps the
        planning."""
        self._early = getattr(self, "_early", {})
        launcher = self._fork_supervisor(exp.name, run_id) if self.supervisor_start == "fork" else None
        if launcher is None:
            launcher = self._spawn_supervisor(self.backend_name, exp.name, run_id, wait=True)
        self._early[run_id] = launcher

    def _fork_supervisor(self, name, run_id):
        """The first fork of a supervisor forked out of this process, as a launcher to read and to give
        the word (None if this process cannot fork now: then a new interpreter is started)."""
        if not _may_fork():
            return None
        from .supervisor import forked_start
        for stream in (sys.stdout, sys.stderr):  # (nothing buffered here may be written twice)
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        read_fd, write_fd = os.pipe()
        go_read, go_write = os.pipe()
        env = {RUN_ID_VAR: run_id, "SYMPHONY_HOME": self.store.home}
        pid = None
        try:
            with closed_for_fork():
                pid = os.fork()
                if pid == 0:
                    forked_start(self.backend_name, name, self._log_dir(name), write_fd, go_read, env,
                                 supervisor_argv=interpreter(SUPERVISOR_BOOT),  # (never returns)
                                 guardian_argv=interpreter(GUARDIAN_BOOT))
        except BaseException as exc:
            if pid is None:  # nothing forked (a transaction open, a descriptor still open, no fork possible)
                for fd in (read_fd, write_fd, go_read, go_write):
                    os.close(fd)
                if isinstance(exc, (OSError, StateError)):
                    return None
                raise
            # forked, then the store could not be reopened, or Ctrl-C came: no word will come
            with rollback_shield():
                _ForkedLauncher(pid, read_fd, write_fd, go_read, go_write).abandon(time.monotonic() + READY_TIMEOUT)
            raise
        return _ForkedLauncher(pid, read_fd, write_fd, go_read, go_write)

    def _abandon_start(self, run_id):
        early = getattr(self, "_early", {}).pop(run_id, None)
        if isinstance(early, _ForkedLauncher):
            early.abandon(time.monotonic() + READY_TIMEOUT)
        elif early is not None:
            early.kill()
            early.wait()
            early.stdin.close()
            early.stdout.close()

    def _start_supervisor(self, plan, adopt=False):
        launcher = getattr(self, "_early", {}).pop(plan.run_id, None) if not adopt else None
        forked = isinstance(launcher, _ForkedLauncher)
        if launcher is not None:
            if forked:  # until it said ok: a roll-back waits for its daemons
                self._forked_starts = getattr(self, "_forked_starts", {})
                self._forked_starts[plan.run_id] = launcher
            try:
                with launcher.stdin:
                    launcher.stdin.write(b"go\n")
            except BrokenPipeError:
                pass  # it died: said below
        else:
            launcher = self._spawn_supervisor(plan.backend, plan.experiment, plan.run_id, adopt=adopt)
        launcher.wait()  # the first fork exits at once; the daemon keeps our pipe until it is ready
        if not adopt:
            self._fault_point("ready", plan)  # the supervisor runs, its processes may be starting
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            if adopt:  # a query re-adopting running processes: nothing to show
                answer = _read_answer(launcher.stdout.fileno(), deadline)
            else:
                total = sum(1 for process in plan.processes if not process.waits)
                with launch_progress(plan.experiment, total, state="running") as progress:
                    answer = _read_answer(launcher.stdout.fileno(), deadline, progress)
        finally:
            if not forked:
                launcher.stdout.close()
        if forked and answer == "ok":
            del self._forked_starts[plan.run_id]
            launcher.stdout.close()
        if answer != "ok":
            if answer.startswith("error "):
                raise LaunchError(f"launch of {plan.experiment!r} failed, nothing was left running: {answer[6:]}")
            remaining = deadline - time.monotonic()
            reason = "did not start in time" if remaining <= 0 else "died before starting the processes"
            raise LaunchError(f"the supervisor of {plan.experiment!r} {reason}; see "
                              f"{os.path.join(self._log_dir(plan.experiment), 'supervisor.log')}")

    def _before_stop(self, name, run_id):
        """A roll-back of a launch whose supervisor was forked out of this process first lets that start
        end: until their ``exec`` its daemons carry no run marker, so nothing would find them. Marked
        deleting (already), the supervisor stops what it started and exits, and its guardian, which
        holds the pipe until then, either ends too (nothing left to guard) or turns into an interpreter
        the stop that follows finds by its marker."""
        forked = getattr(self, "_forked_starts", {}).pop(run_id, None)
        if forked is not None:
            forked.abandon(time.monotonic() + READY_TIMEOUT)

    # --- queries ------------------------------------------------------------------
    def _ensure_supervised(self, row):
        """Re-adopt a running experiment whose supervisor died; returns the current row.

        Normally the dead supervisor's guardian has replaced it already (see
        :mod:`symphony.local.supervisor`); this is for when the guardian died too. Only one
        caller wins the claim (conditioned on the dead pid; the row then names this live
        process until the new supervisor names itself), so two concurrent ``symphony p``, or
        a query and the guardian, never start two supervisors.
        """
        if row["status"] != ExperimentStatus.RUNNING or is_alive(row["supervisor_pid"]):
            return row
        if self.store.claim_supervision(self.backend_name, row["name"], row["supervisor_pid"], os.getpid()):
            from ..host.plan import LocalPlan
            import json
            plan = self._experiment_row(row["name"])["plan"]
            self._start_supervisor(LocalPlan.from_dict(json.loads(plan), whole_env=False), adopt=True)
        return self._experiment_row(row["name"], brief=True)

    def describe_experiment(self, name):
        row = self._ensure_supervised(self._experiment_row(name, brief=True))
        adopted = f"re-adopted after its supervisor died ({row['adoptions']}×)" if row["adoptions"] else ""
        readiness = read_document(os.path.join(self._log_dir(name), READINESS_FILE))
        now = time.time()
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
            if readiness is not None:
                apply_readiness(statuses[-1], readiness, now)
        return statuses

    def _still_running(self, experiment, key):
        """Whether ``logs --follow`` should keep waiting for more output of ``key``: as long as its row
        says it runs or will run again. A dead supervisor is not the end: it is replaced (by its
        guardian, or here), and the process it left running is followed on."""
        exp_row = self.store.get_experiment(self.backend_name, experiment)
        current = self.store.get_process(self.backend_name, experiment, key)
        if exp_row is None or current is None or ProcessState(current["status"]) in FINAL_STATES:
            return False
        if exp_row["status"] != ExperimentStatus.RUNNING:
            return exp_row["status"] == ExperimentStatus.STARTING
        try:
            self._ensure_supervised(exp_row)
        except SymphonyError:  # deleted meanwhile, or no supervisor could be started: nothing more will come
            return False
        return True


def _may_fork():
    """Whether a supervisor may be forked out of this process: Linux, and one thread only. A fork keeps
    only the calling thread; a lock another thread held at that moment (in the allocator, in a
    library) would stay held forever in the child, so a process with threads starts a new interpreter."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        if len(os.listdir("/proc/self/task")) != 1:
            return False
        # the clean interpreter the fork turns into is this one (an embedded interpreter's sys.executable
        # is its host program): else a start that fails there would only show once the launch said ok
        if os.path.realpath(sys.executable or "") != os.path.realpath("/proc/self/exe"):
            return False
        # a launcher that is itself a process of a run: until their exec, the forked daemons would show
        # that run's marker (their /proc environ is the launcher's), and its delete would stop them
        with open("/proc/self/environ", "rb") as handle:
            return f"\0{RUN_ID_VAR}=".encode() not in b"\0" + handle.read()
    except OSError:
        return False


class _ForkedLauncher:
    """The first fork of a supervisor forked out of this process, used like the ``Popen`` of one
    started as a new interpreter: it exits at once; the daemon waits for its word on ``stdin`` and
    answers on ``stdout``."""

    def __init__(self, pid, read_fd, write_fd, go_read, go_write):
        """(The pipes' ends the daemons use, ``write_fd`` and ``go_read``, are closed here.)"""
        os.close(write_fd)
        os.close(go_read)
        self.pid = pid
        self.stdout = os.fdopen(read_fd, "rb")
        self.stdin = os.fdopen(go_write, "wb", buffering=0)

    def abandon(self, deadline):
        """Wait for the daemons to be done with this start: without the word (the launch failed before
        it recorded the experiment) they end on the end of the file; after it, marked deleting, the
        supervisor stops what it started. Either way they have let go of the pipe when this returns."""
        self.stdin.close()
        self.wait()
        self.drain(deadline)

    def wait(self):
        try:
            return os.waitpid(self.pid, 0)[1]
        except ChildProcessError:  # (reaped already: a SIGCHLD handler of the launcher's own)
            return 0

    def drain(self, deadline):
        """Read the pipe until every daemon let go of it (or ``deadline``), then close it."""
        import select
        with self.stdout:
            fd = self.stdout.fileno()
            while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
                if not os.read(fd, 65536):
                    return


def _read_answer(fd, deadline, progress=None):
    """The supervisor's word on the start (``ok``, ``error <message>``; "" if none came by ``deadline``),
    its ``started <count>`` lines meanwhile shown by ``progress`` (drawn only on a terminal, after a second)."""
    pending = b""
    while True:
        import select
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return ""
        chunk = os.read(fd, 65536)
        if not chunk:  # it let go of the pipe without a word (died)
            return pending.decode(errors="replace").strip()
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            text = line.decode(errors="replace").strip()
            if not text.startswith("started "):
                return text
            if progress is not None:
                progress.update(int(text[8:]))
