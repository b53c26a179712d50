"""The program of every Symphony tmux window: runs the process, records how it ends, restarts it.

A window does not run the planned process directly but this small runner, which runs it
as its own child::

    python -I -S -c BOOT RUNNER_FILE LAUNCH_SCRIPT SYMPHONY_HOME EXPERIMENT KEY RUN_ID POLICY BACKOFF GRACE \
        DIAGNOSTICS -- ARGV...

BOOT (:data:`symphony.tmux.script.RUNNER_BOOT`) first waits until tmux has built the whole
session (LAUNCH_SCRIPT, the launch's script file, is gone), so that a hundred runners
starting at once do not slow tmux down while it builds the windows; it then loads this file
by its path and calls :func:`main`. Nothing of Symphony is imported before the process has
started; the rest (the state database, the restart rule) right after.

Why not let tmux watch the process: tmux learns that a pane's process ended only when its
SIGCHLD handler reaps it, and a tmux linked with libutempter (Debian's, Ubuntu's) sets
SIGCHLD to SIG_DFL while the utempter helper runs, on every pane start and end. A child
that exits in that window has its SIGCHLD discarded; tmux then neither reaps it nor fires
``pane-died`` until some other child of the server happens to exit. Under load the helper
runs long and such misses are frequent: a restart could wait minutes, until something
(``symphony p`` sent a SIGCHLD) woke tmux up. The runner is the process's parent, so it
reaps it itself, at once, and applies the restart policy and backoff of
:mod:`symphony.host.restarts` (the one decision the local supervisor also asks) without
waiting for tmux.

What the process sees is what it would see as the window's own program:

* ``argv`` exactly as planned (executed directly, looked up on the process's PATH), in the
  window's ``cwd``;
* the environment exactly as tmux gave it to the window: read back from
  ``/proc/self/environ``, because Python itself may add ``LC_CTYPE`` (PEP 538) to its own;
* the window's terminal as stdin/stdout/stderr, in a process group of its own that is the
  terminal's foreground group, so keys typed after ``symphony ssh`` (Ctrl-C, Ctrl-Z) reach
  it and tmux shows it as the pane's current command; a stopped process is continued, as
  tmux does for its panes;
* default signal dispositions and the signal mask the window started with.

What it records in the state database, as the local supervisor does: ``running`` with its
pid and start time; at its end ``restarting`` (with the exit code or signal) before the
backoff, or the final ``exited``/``killed``. It never writes over an experiment being
deleted or a later run of the same name, and waits for the launch to have marked the
experiment started before recording an end (the launch's mark would hide it).

Stopping: SIGHUP (its terminal went away: the window or session was closed, or the tmux
server ended, even by SIGKILL), SIGTERM, SIGINT or SIGQUIT sent to the runner stop the
restarts and are passed on to the process's group; after ``GRACE`` seconds whatever is left
of the window (the process's group, and any process carrying this run's marker and this
process's ``SYMPH_PROCESS``) is killed. ``symphony delete`` also finds the runner by the run
marker it carries. The runner then ends the way the process ended (same exit code or
signal), so a dead pane shows the process's status.

Problems of the runner itself (an unusable state database) go to DIAGNOSTICS, never into
the window, whose output is the process's log.
"""

import os
import select
import signal
import sys
import time

#: the directory holding the ``symphony`` package (this file is loaded by its path, not imported)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: signals that stop the runner (and are passed on to the process)
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: longest sleep between checks of the child (a SIGCHLD wakes the runner at once; this is a backstop)
POLL_SECONDS = 1.0
#: how long an end waits for the launch to mark the experiment started (it does so right after tmux returns)
MARK_WAIT_SECONDS = 10.0
#: exit code of a process whose program could not be executed (as a shell reports it)
CANNOT_EXECUTE = 127

#: what the runner uses of Symphony, set by :func:`load_symphony`
BACKEND = ExperimentStatus = ProcessState = StateStore = RUN_ID_VAR = None
all_pids = proc_stat = signal_name = failures_in_a_row = restart_delay = should_restart = None


def load_symphony():
    """Import what the runner needs of Symphony (once the process runs: it need not wait for these imports)."""
    global BACKEND, ExperimentStatus, ProcessState, StateStore, all_pids, failures_in_a_row, proc_stat
    global restart_delay, should_restart, signal_name, RUN_ID_VAR
    if StateStore is not None:
        return
    if PACKAGE_ROOT not in sys.path:
        sys.path.insert(0, PACKAGE_ROOT)
    from symphony.host.processes import RUN_ID_VAR, all_pids, proc_stat, signal_name
    from symphony.host.restarts import failures_in_a_row, restart_delay, should_restart
    from symphony.state import ExperimentStatus, StateStore
    from symphony.status import ProcessState
    from symphony.tmux.client import BACKEND


def next_run(policy, exit_code, signum, ran_for, failures, backoff):
    """After a run of ``ran_for`` seconds that ended with ``exit_code`` or signal ``signum``:
    ``(restart or not, quick failures in a row, seconds to wait first)``, by the host backends' one rule."""
    if not should_restart(policy, exit_code, signal_name(signum) if signum else None):
        return False, failures, None
    failures = failures_in_a_row(ran_for, failures)
    return True, failures, restart_delay(backoff, failures)


def original_environment():
    """The environment this process was started with, as bytes (``/proc/self/environ``).

    ``os.environ`` is not it: Python sets ``LC_CTYPE=C.UTF-8`` in its own environment when
    the locale is C (PEP 538), which the planned process must not inherit. Without /proc
    (not Linux), ``os.environb``.
    """
    try:
        with open("/proc/self/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return dict(os.environb)
    env = {}
    for entry in data.split(b"\0"):
        name, equals, value = entry.partition(b"=")
        if name and equals:
            env.setdefault(name, value)  # the first of duplicates, as getenv() reads
    return env


def _environ_entries(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return set(handle.read().split(b"\0"))
    except OSError:
        return set()


def window_processes(run_id, key, exclude=()):
    """Pids of live processes carrying this run's marker and ``SYMPH_PROCESS=key``: one window's processes,
    including descendants that left its process group (daemons)."""
    wanted = {f"{RUN_ID_VAR}={run_id}".encode(), f"SYMPH_PROCESS={key}".encode()}
    found = []
    for pid in all_pids():
        if pid in exclude or not wanted <= _environ_entries(pid):
            continue
        stat = proc_stat(pid)
        if stat is not None and stat.state != "Z":
            found.append(pid)
    return found


class Runner:
    """Runs one planned process in its window until its restart policy or a stop says it is done."""

    def __init__(self, home, experiment, key, run_id, policy, backoff, grace, diagnostics, argv):
        self.home, self.experiment, self.key, self.run_id = home, experiment, key, run_id
        self.policy, self.backoff, self.grace = policy, float(backoff), float(grace)
        self.diagnostics, self.argv = diagnostics, list(argv)
        self.env = original_environment()
        self.terminal = 0 if os.isatty(0) else None
        self.initial_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        self.child = None          # pid of the running process (also its process group)
        self.stop_signal = None    # the first stop signal received
        self.stop_deadline = None  # (monotonic) when what is left of the window is killed
        self.killed_window = False
        self.restarts = 0
        self.failures = 0          # quick failures in a row (the backoff's exponent)
        self._store = None
        self._wakeup = None

    # --- the state database ----------------------------------------------------------
    def note(self, message):
        """A line in the diagnostics file (never in the window: its output is the process's log)."""
        try:
            with open(self.diagnostics, "a") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.experiment} {self.key} (runner "
                             f"{os.getpid()}): {message}\n")
        except OSError:
            pass

    @property
    def store(self):
        if self._store is None:
            self._store = StateStore(self.home)
        return self._store

    def _experiment(self):
        """The experiment's row if it is still this run and not being deleted, else None."""
        row = self.store.get_experiment(BACKEND, self.experiment)
        if row is None or row["run_id"] != self.run_id or row["status"] == ExperimentStatus.DELETING:
            return None
        return row

    def current(self):
        """Whether this run is still the experiment's and not being deleted (True if the state cannot be read:
        a delete closes the window, which stops the runner anyway)."""
        try:
            return self._experiment() is not None
        except Exception as exc:
            self.note(f"cannot read the state database: {type(exc).__name__}: {exc}")
            return True

    def record(self, end=False, **fields):
        """Update this process's row, if the experiment is still this run. ``end``: first wait until the
        launch has marked the experiment started, which would otherwise overwrite the end with 'running'."""
        try:
            deadline = time.monotonic() + MARK_WAIT_SECONDS
            while True:
                row = self._experiment()
                if row is None:
                    return
                if not end or row["status"] != ExperimentStatus.STARTING or self.stop_signal is not None \
                        or time.monotonic() > deadline:  # (stopped while starting: the launch is being undone)
                    break
                time.sleep(0.02)
            self.store.update_process(BACKEND, self.experiment, self.key, **fields)
        except Exception as exc:  # the process goes on being run and restarted
            self.note(f"cannot record {fields}: {type(exc).__name__}: {exc}")

    # --- signals -----------------------------------------------------------------------
    def install_signals(self):
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        self._wakeup = read_end
        signal.set_wakeup_fd(write_end)  # any handled signal (SIGCHLD too) ends the current wait
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # to hand the terminal over from the background
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_stop)

    def _on_stop(self, signum, frame):
        if self.stop_signal is None:
            self.stop_signal = signum
            self.stop_deadline = time.monotonic() + self.grace
        self._signal_child(signum)

    def _signal_child(self, signum):
        if self.child is None:
            return
        try:
            os.killpg(self.child, signum)
        except OSError:
            try:
                os.kill(self.child, signum)
            except OSError:
                pass

    def _wait(self, timeout):
        """Sleep until a signal arrives or ``timeout`` seconds pass."""
        try:
            select.select([self._wakeup], [], [], max(0.0, timeout))
            while os.read(self._wakeup, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # --- running the process --------------------------------------------------------------
    def spawn(self):
        """Start the process; returns None, or why its program could not be executed (it then exited)."""
        errors_read, errors_write = os.pipe()  # close-on-exec: nothing is read back when exec succeeds
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # a stop is passed on once self.child is set
        try:
            pid = os.fork()
            if pid == 0:
                self._exec_child(errors_write)
            self.child = pid
            try:
                os.setpgid(pid, pid)  # (also done by the child: whichever runs first)
            except OSError:
                pass
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.initial_mask)
        os.close(errors_write)
        with os.fdopen(errors_read, "rb") as errors:
            failure = errors.read()
        if not failure:
            return None
        os.waitpid(pid, 0)
        self.child = None
        return failure.decode(errors="replace")

    def _exec_child(self, errors_write):
        """In the forked child: own process group, the terminal's foreground, default signals, then exec."""
        try:
            os.setpgid(0, 0)
            if self.terminal is not None:
                try:
                    os.tcsetpgrp(self.terminal, os.getpid())
                except OSError:
                    pass
            signal.set_wakeup_fd(-1)
            for signum in signal.valid_signals():
                if signum not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(signum, signal.SIG_DFL)
                    except (OSError, ValueError, RuntimeError):
                        pass
            signal.pthread_sigmask(signal.SIG_SETMASK, self.initial_mask)
            os.execvpe(self.argv[0], self.argv, self.env)
        except BaseException as exc:
            try:
                os.write(errors_write, (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).encode())
            except BaseException:
                pass
        finally:
            os._exit(CANNOT_EXECUTE)

    def wait_child(self):
        """Wait for the process to end; ``(exit code, None)`` or ``(None, signal number)``.

        Stopped by a signal (Ctrl-Z): continued, as tmux does for a pane's program. After a stop
        request, whatever is left of the window is killed once the grace period is over.
        """
        while True:
            try:
                pid, status = os.waitpid(self.child, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                self.child = None
                return None, None
            if pid:
                if os.WIFSTOPPED(status):
                    if os.WSTOPSIG(status) not in (signal.SIGTTIN, signal.SIGTTOU):
                        self._signal_child(signal.SIGCONT)
                    continue
                self.child = None
                code = os.waitstatus_to_exitcode(status)
                return (code, None) if code >= 0 else (None, -code)
            self._wait(self._stop_timeout())

    def _stop_timeout(self):
        if self.stop_deadline is None:
            return POLL_SECONDS
        left = self.stop_deadline - time.monotonic()
        if left > 0:
            return min(POLL_SECONDS, left)
        if not self.killed_window:
            self.killed_window = True
            self.kill_window(signal.SIGKILL)
        return POLL_SECONDS

    def kill_window(self, signum):
        self._signal_child(signum)
        for pid in window_processes(self.run_id, self.key, exclude={os.getpid()}):
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    def clear_window(self):
        """After a stop: end what the process left behind in other process groups (daemons), so that
        nothing of a window whose terminal is gone keeps running."""
        left = window_processes(self.run_id, self.key, exclude={os.getpid()})
        if not left:
            return
        self.kill_window(signal.SIGTERM)
        while time.monotonic() < self.stop_deadline and window_processes(self.run_id, self.key,
                                                                         exclude={os.getpid()}):
            time.sleep(0.05)
        self.kill_window(signal.SIGKILL)

    def backoff_wait(self, delay):
        """Wait ``delay`` seconds before a restart; False if a stop came meanwhile."""
        deadline = time.monotonic() + delay
        while self.stop_signal is None and time.monotonic() < deadline:
            self._wait(deadline - time.monotonic())
        return self.stop_signal is None

    # --- the loop ----------------------------------------------------------------------------
    @staticmethod
    def _end_fields(ended, exit_code, signum, status=None):
        killed_by = signal_name(signum) if signum else None
        return dict(pid=None, start_ticks=None, exit_code=exit_code, signal=killed_by, finished=ended,
                    status=status or (ProcessState.KILLED if killed_by else ProcessState.EXITED))

    def run(self):
        """Run, record and restart the process; returns how its last run ended (exit code, signal number)."""
        self.install_signals()
        while True:
            started = time.time()
            failure = self.spawn()
            load_symphony()
            if failure is not None:
                try:
                    print(f"symphony: cannot run {self.argv[0]!r}: {failure}", file=sys.stderr, flush=True)
                except OSError:
                    pass
                self.record(end=True, **self._end_fields(time.time(), CANNOT_EXECUTE, None))
                return CANNOT_EXECUTE, None
            stat = proc_stat(self.child)  # (still there until reaped, even if it has ended)
            self.record(status=ProcessState.RUNNING, pid=self.child, start_ticks=stat.start_ticks if stat else None,
                        started=started, exit_code=None, signal=None, finished=None, restarts=self.restarts)
            exit_code, signum = self.wait_child()
            ended = time.time()
            restart, failures, delay = next_run(self.policy, exit_code, signum, ended - started, self.failures,
                                                self.backoff)
            if restart and self.stop_signal is None:
                self.failures = failures
                self.record(end=True, **self._end_fields(ended, exit_code, signum, ProcessState.RESTARTING))
                if self.backoff_wait(delay) and self.current():
                    self.restarts += 1
                    continue
            if self.stop_signal is not None and self.current():  # (a delete stops the whole run itself)
                self.clear_window()
            self.record(end=True, **self._end_fields(ended, exit_code, signum))
            return exit_code, signum


def end_like(exit_code, signum):
    """End this process the way the planned process ended, so the dead pane shows its status."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if signum:
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
            signal.set_wakeup_fd(-1)
            if signum not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
            os.kill(os.getpid(), signum)
        except (OSError, ValueError):
            pass
        os._exit(128 + signum)
    os._exit(1 if exit_code is None else exit_code)


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        separator = args.index("--")
        home, experiment, key, run_id, policy, backoff, grace, diagnostics = args[:separator]
        command = args[separator + 1:]
        if not command:
            raise ValueError("no command")
    except ValueError:
        print("usage: python -m symphony.tmux.runner SYMPHONY_HOME EXPERIMENT KEY RUN_ID POLICY BACKOFF GRACE "
              "DIAGNOSTICS -- ARGV...", file=sys.stderr)
        return 2
    runner = Runner(home, experiment, key, run_id, policy, backoff, grace, diagnostics, command)
    try:
        exit_code, signum = runner.run()
    except Exception as exc:  # never a traceback in the window; the diagnostics file keeps it
        import traceback
        runner.note(f"failed: {''.join(traceback.format_exception(exc))}")
        exit_code, signum = 1, None
        if runner.child is not None:  # the process is not left without its runner: it ends first
            try:
                code = os.waitstatus_to_exitcode(os.waitpid(runner.child, 0)[1])
                exit_code, signum = (code, None) if code >= 0 else (None, -code)
            except OSError:
                pass
    end_like(exit_code, signum)


if __name__ == "__main__":
    sys.exit(main())
