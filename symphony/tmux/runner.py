"""Each tmux window's runner, seen from Python: how it is started, and reading what it recorded.

Every window's program is ``runner.pl`` (beside this file), a Perl program without modules that
runs the planned process as its child, applies the restart decision and appends every start and
end to the experiment's event file. Why a runner at all: tmux learns that a pane's program
ended only when its SIGCHLD handler reaps it, and a tmux linked with libutempter (Debian's,
Ubuntu's) discards SIGCHLDs that arrive while its utempter helper runs, so under load a restart
that waited for tmux could wait minutes. Why Perl: there is one runner per window for as long
as its process lives, and a Python interpreter per window cost 60 ms of CPU and 6 MB of
private memory each (hundreds of windows: tens of seconds of CPU, gigabytes); Perl without
modules costs about 2 ms and 1 MB, and is in every Debian and macOS base system.

This module provides:

* :func:`runner_argv`: the window's program, with the restart decision of
  :mod:`symphony.host.restarts` evaluated into the plain parameters the Perl runner reads (it
  has no Python to ask at an exit, and the restart must not wait for one to start);
* :func:`ingest`: the event file read into the state database in one transaction, by whoever
  looks first (the experiment's log indexer every half second, ``symphony p``, ``delete``),
  so what the state shows never depends on one particular process staying alive.

The event file is append-only; a lock on it serialises readers, and the offset read so far is
kept beside it, so each event is applied once and in order.
"""

import errno
import fcntl
import functools
import os
import signal
import sys
import termios
import time

from ..host.processes import signal_name
from ..host.restarts import STABLE_RUN_SECONDS, failures_in_a_row, restart_delay, restart_delays, \
    should_restart
from ..state import ExperimentStatus, open_private
from ..status import ProcessState
from .client import BACKEND

#: the Perl program every window runs
RUNNER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.pl")
#: a variable the plan adds to the session only for the runners: Perl would otherwise print a locale
#: warning into every window when the launching shell names a locale this machine lacks
QUIET_LOCALE = ("PERL_BADLANG", "0")
#: signals whose default action writes a core file (a runner ending like its process must not)
CORE_SIGNALS = ("SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGSEGV", "SIGXCPU", "SIGXFSZ",
                "SIGSYS")
#: the events' file, beside the logs, and the offset read from it so far
EVENTS_FILE = "runner.events"
READ_SUFFIX = ".read"
#: beside the events: the run is being deleted, so its runners leave stopping its processes to the delete
DELETING_SUFFIX = ".deleting"
#: Linux's execve system call number by the ELF header of the Perl that runs the runners: ``(e_machine,
#: 64-bit) -> number`` (the runner hands a process the shared variables in one execve, see runner.pl)
EXECVE_NUMBERS = {(62, True): 59,      # x86-64
                  (183, True): 221,    # AArch64 (and the others of the generic table:)
                  (243, True): 221,    # RISC-V 64
                  (258, True): 221,    # LoongArch 64
                  (3, False): 11,      # i386
                  (40, False): 11}     # 32-bit Arm (EABI)
#: what execvp does after a failed execve of one PATH candidate: go on with the next (ENOENT first)
EXECVP_GOES_ON = ("ENOENT", "ESTALE", "ENOTDIR", "ENODEV", "ETIMEDOUT")

#: exit code of a process whose program could not be executed (as a shell reports it)
CANNOT_EXECUTE = 127


def next_run(policy, exit_code, signum, ran_for, failures, backoff):
    """After a run of ``ran_for`` seconds that ended with ``exit_code`` or signal ``signum``:
    ``(restart or not, quick failures in a row, seconds to wait first)``, by the host backends' one rule.
    The Perl runner answers the same from :func:`decision` (``tests/tmux`` compare the two)."""
    if not should_restart(policy, exit_code, signal_name(signum) if signum else None):
        return False, failures, None
    failures = failures_in_a_row(ran_for, failures)
    return True, failures, restart_delay(backoff, failures)


@functools.lru_cache(maxsize=None)
def decision(policy, backoff):
    """The restart rule for one process as the Perl runner reads it: ``(DECISION, STABLE, DELAYS)``.

    DECISION: whether it restarts after exit 0, after another exit code, after a signal ('0'/'1' each);
    STABLE: a run this long resets the quick failures; DELAYS: the wait after 0, 1, 2, ... quick failures
    in a row, up to the first that reaches the longest backoff (repeated from then on).
    """
    restarts = "".join("1" if should_restart(policy, code, killed) else "0"
                       for code, killed in ((0, None), (1, None), (None, "SIGTERM")))
    delays = restart_delays(backoff)
    return restarts, repr(float(STABLE_RUN_SECONDS)), ",".join(repr(float(delay)) for delay in delays)


@functools.lru_cache(maxsize=None)
def execve_spec(perl):
    """The runner's EXECVE parameter for the Perl at ``perl`` (see runner.pl): ``"number,ENOEXEC,EACCES,
    ENOENT,..."``, or None where the system call's number is not known for that binary (not Linux, not an
    ELF file of a machine in :data:`EXECVE_NUMBERS`): the runner then sets the shared variables one by one.

    Read from the binary itself rather than from this interpreter's machine: a wrong number would make the
    runner's child call another system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(os.path.realpath(perl), "rb") as handle:
            header = handle.read(20)
    except OSError:
        return None
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] not in (1, 2) or header[5] not in (1, 2):
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    number = EXECVE_NUMBERS.get((machine, header[4] == 2))
    if number is None:
        return None
    codes = [errno.ENOEXEC, errno.EACCES, *(getattr(errno, name) for name in EXECVP_GOES_ON)]
    return ",".join(str(code) for code in (number, *codes))


@functools.lru_cache(maxsize=None)
def _cores():
    return ",".join(str(int(getattr(signal, name))) for name in CORE_SIGNALS if hasattr(signal, name))


def runner_argv(perl, events, process, run_id, backoff, grace, drop_env=None, wait=None, shared_env=None,
                execve=None):
    """The window's program: the Perl runner running ``process.argv`` exactly as planned.

    ``drop_env``: a variable the session carries only for the runners (:data:`QUIET_LOCALE`), removed
    from the process's environment. ``wait``: ``(python, package root, spec file)`` of a process held
    until its services are ready (:func:`symphony.readiness.wait.main` reads the spec). ``shared_env``:
    the file of the variables every process shares, which the runner adds to the window's environment,
    in one execve when ``execve`` (:func:`execve_spec`) is given.
    """
    restarts, stable, delays = decision(process.restart_policy, float(backoff))
    return [perl, "-t", RUNNER_FILE, events, process.key, run_id, restarts, stable, delays, repr(float(grace)),
            drop_env or "-", _cores(), str(termios.TIOCSPGRP), str(os.WUNTRACED), shared_env or "-",
            (execve or "-") if shared_env else "-", *(wait or ("-", "-", "-")), "--", *process.argv]


def _uptime():
    with open("/proc/uptime") as handle:
        return float(handle.read().split()[0])


def _fields(words, boot, ticks_per_second):
    """State-row fields of one event line (None if the line is not an event)."""
    try:
        if words[0] == "S" and len(words) == 5:
            _, _, pid, ticks, restarts = words
            ticks = None if ticks == "-" else int(ticks)
            started = boot + ticks / ticks_per_second if ticks is not None else time.time()
            return dict(status=ProcessState.RUNNING, pid=int(pid), start_ticks=ticks, started=started,
                        exit_code=None, signal=None, finished=None, restarts=int(restarts))
        if words[0] == "E" and len(words) == 6:
            _, _, uptime, code, signum, restart = words
            killed_by = signal_name(int(signum)) if signum != "-" else None
            exit_code = int(code) if code != "-" else None
            if restart == "1":
                status = ProcessState.RESTARTING
            else:
                status = ProcessState.KILLED if killed_by else ProcessState.EXITED
            return dict(status=status, pid=None, start_ticks=None, exit_code=exit_code, signal=killed_by,
                        finished=boot + float(uptime))
        if words[0] == "W" and len(words) == 3:  # held: ``started`` says since when, until it starts
            return dict(status=ProcessState.WAITING, pid=None, start_ticks=None, started=boot + float(words[2]),
                        finished=None)
        if words[0] == "F" and len(words) == 3:  # not started at its deadline
            return dict(status=ProcessState.FAILED, pid=None, start_ticks=None, finished=boot + float(words[2]))
    except ValueError:
        pass
    return None


def ingest(store, experiment, run_id, events, deleting=False):
    """Apply the events of ``events`` not applied yet to the experiment's process rows, in one transaction.

    Nothing is applied to another run of the experiment, nor while the launch has not marked it started
    (its mark would hide an end), nor, unless ``deleting``, while it is being deleted.
    """
    try:
        handle = open(events, "rb")
    except OSError:
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        row = store.get_experiment(BACKEND, experiment)
        if row is None or row["run_id"] != run_id or row["status"] == ExperimentStatus.STARTING:
            return
        if row["status"] == ExperimentStatus.DELETING and not deleting:
            return
        try:
            with open(events + READ_SUFFIX) as done:
                offset = int(done.read() or 0)
        except (OSError, ValueError):
            offset = 0
        handle.seek(offset)
        data = handle.read()
        data = data[:data.rfind(b"\n") + 1]  # (a line being written waits for the next reader)
        if not data:
            return
        boot = time.time() - _uptime()
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        updates = {}  # type: dict
        for line in data.decode(errors="replace").splitlines():
            words = line.split()
            fields = _fields(words, boot, ticks_per_second) if len(words) > 1 else None
            if fields is not None:
                updates.setdefault(words[1], {}).update(fields)
        if updates:
            store.update_processes(BACKEND, experiment, updates)
        with open_private(events + READ_SUFFIX + ".new", "w") as done:
            done.write(str(offset + len(data)))
        os.replace(events + READ_SUFFIX + ".new", events + READ_SUFFIX)
