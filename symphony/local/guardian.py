"""The supervisor's guardian, and the records of how processes ended.

The guardian is the supervisor's parent and a child subreaper (see
:mod:`symphony.local.supervisor` for why it exists). It lives in a module of its own, with
little more than the standard library's built-in modules at import, because a launch that
forks the supervisor out of the launcher (:func:`symphony.local.supervisor.forked_start`)
turns the guardian into a clean interpreter of its own (``exec``), a second after the launch
began or at once if the supervisor ends (unless it ended on purpose and left nothing to guard):
what this module imports is paid for in CPU at that
moment, while the experiment's processes start. What it needs only when a supervisor dies (the
state store) is imported then, and a replacement supervisor is an interpreter of its own. It
writes what it has to say to the experiment's ``supervisor.log`` itself (:func:`say`): its
stdio is detached.

The records: an end is written to ``<log dir>/exits/<pid>`` (start ticks and exit code) by
whoever reaps the process, supervisor or guardian, before reaping it: only a parent learns a
wait status, and a replacement supervisor is not its processes' parent.
"""

import os
import sys
import time

from ..host.processes import proc_stat, signal_name
from ..host.restarts import STABLE_RUN_SECONDS, restart_delay
from .boot import SUPERVISOR_BOOT, interpreter


def log_dir_of(plan):
    """The experiment's log directory: its processes' logs, ``supervisor.log``, ``exits/``."""
    return os.path.dirname(plan.processes[0].log_path)


def exits_dir(log_dir):
    """Where the ends of processes are recorded before they are reaped (by the supervisor or its guardian)."""
    return os.path.join(log_dir, "exits")


def peek_child(pid=0):
    """``waitid`` without waiting or reaping, on the child ``pid`` (any child if 0): its record if it
    ended, None if it runs, False if there is no such child."""
    try:
        return os.waitid(os.P_PID if pid else os.P_ALL, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False


def ended_on_purpose(ended):
    """Whether ``waitid``'s record ``ended`` is an exit with status 0 (a supervisor ends so on purpose:
    its experiment finished or was deleted)."""
    return bool(ended) and ended.si_code == os.CLD_EXITED and ended.si_status == 0


def say(log_dir, message):
    """Append one line to the experiment's ``supervisor.log`` (nothing if its directory is gone, or not
    there yet: a guardian may outlive its experiment, and precede a launch's record of it)."""
    try:
        fd = os.open(os.path.join(log_dir, "supervisor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (message + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def exit_records(directory):
    try:
        return [name for name in os.listdir(directory) if name.isdigit()]
    except OSError:
        return []


def forget_exit(directory, pid):
    """Remove the record of ``pid``'s end once the state holds it."""
    try:
        os.unlink(os.path.join(directory, str(pid)))
    except OSError:
        pass


def read_exit(directory, pid, start_ticks):
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


def record_exit(directory, pid, code):
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
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{stat.start_ticks} {code}\n")
        os.replace(temporary, os.path.join(directory, str(pid)))
    except OSError:
        pass


class Guardian:
    """The supervisor's parent for as long as the experiment has processes (see the module's docstring).

    While the supervisor lives, it only waits for it. Once it is dead, its orphans (subreaper:
    ours, not init's) end here: each one's status is recorded before it is reaped (``WNOWAIT``),
    so that whoever finds the pid gone also finds its record; and a replacement supervisor is
    started, unless the supervisor ended on purpose (exit 0: its experiment finished or was
    deleted), the experiment is no longer running, or someone else replaced it first.
    """

    def __init__(self, backend, experiment, log_dir, supervisor_pid):
        self.backend, self.experiment = backend, experiment
        self.supervisor_pid = supervisor_pid
        self.log_dir = log_dir
        self.directory = exits_dir(log_dir)
        self.supervisor_since = time.monotonic()
        self.quick_deaths = 0
        self.replace_at = None  # (monotonic) when to start the next supervisor
        self.dead_pid = None  # the supervisor to replace, as its row names it

    def run(self):
        while True:
            waiting = self.replace_at is not None
            try:
                ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT | (os.WNOHANG if waiting else 0))
            except ChildProcessError:
                if not waiting:
                    return
                ended = None
            except InterruptedError:
                continue
            if ended is None:
                if time.monotonic() >= self.replace_at:
                    self.replace()
                else:
                    time.sleep(min(0.05, max(0.0, self.replace_at - time.monotonic())))
                continue
            if ended.si_pid == self.supervisor_pid:
                self.supervisor_died(ended)
            else:
                code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
                record_exit(self.directory, ended.si_pid, code)
            try:
                os.waitpid(ended.si_pid, 0)
            except ChildProcessError:
                pass

    def supervisor_died(self, ended):
        self.dead_pid, self.supervisor_pid = self.supervisor_pid, None
        if ended_on_purpose(ended):
            return
        lived = time.monotonic() - self.supervisor_since
        self.quick_deaths = 0 if lived >= STABLE_RUN_SECONDS else self.quick_deaths + 1
        delay = 0.0 if self.quick_deaths <= 1 else restart_delay(1.0, self.quick_deaths - 1)
        say(self.log_dir, f"supervisor {self.dead_pid} died ({_how(ended)}); replacing it in {delay:g} s")
        self.replace_at = time.monotonic() + delay

    def replace(self):
        self.replace_at = None
        try:
            from ..state import StateStore
            store = StateStore()
            try:
                # the row names the dead supervisor, or still this guardian if it died before saying its pid
                claimed = any(store.claim_supervision(self.backend, self.experiment, dead, os.getpid())
                              for dead in (self.dead_pid, os.getpid()))
            finally:
                store.close()  # no connection may cross fork()
        except Exception as exc:  # (a state database that cannot be used now: try again, later)
            say(self.log_dir, f"cannot replace the supervisor: {exc}")
            self.quick_deaths += 1
            self.replace_at = time.monotonic() + restart_delay(1.0, self.quick_deaths)
            return
        if not claimed:  # deleted, finished, or replaced by a query meanwhile: only the orphans' ends are ours
            say(self.log_dir, f"supervisor {self.dead_pid} not replaced: the experiment is no longer running, "
                              "or another supervisor took it over")
            return
        pid = os.fork()
        if pid == 0:
            try:  # its child, so that the next death is this guardian's to see too; it logs where its guardian does
                try:
                    os.dup2(os.open(os.path.join(self.log_dir, "supervisor.log"),
                                    os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 2)
                except OSError:
                    pass  # (its stderr stays this guardian's)
                argv = interpreter(SUPERVISOR_BOOT) + [self.backend, self.experiment, "--replace"]
                os.execv(argv[0], argv)
            finally:
                os._exit(1)
        say(self.log_dir, f"supervisor {pid} started, replacing {self.dead_pid}")
        self.supervisor_pid, self.supervisor_since = pid, time.monotonic()


def _how(ended):
    if ended.si_code == os.CLD_EXITED:
        return f"exit {ended.si_status}"
    return signal_name(ended.si_status)


def main(argv=None):
    """``<backend> <experiment> <supervisor pid> <log dir>``: the guardian of a forked start, after its
    ``exec`` (it is already the supervisor's parent, a session leader and a subreaper, its stdio detached;
    supervisor pid 0: the supervisor ended on purpose, and only its orphans are left to guard)."""
    backend, experiment, supervisor_pid, log_dir = (argv or sys.argv[1:])[:4]
    import signal
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # (an ignored SIGCHLD, kept across exec, reaps alone)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGCHLD,))  # (blocked for the hand-over's wait)
    try:
        Guardian(backend, experiment, log_dir, int(supervisor_pid)).run()
    except BaseException as exc:  # (its stderr is /dev/null: said where the experiment's supervisor speaks)
        say(log_dir, f"the guardian failed: {exc!r}")
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
