"""Finding and stopping every process an experiment started on this host.

Killing the pid we started is not enough: a process may fork workers, ignore
SIGHUP, or daemonise into a new session. Every process Symphony starts carries
``SYMPH_RUN_ID=<unique id>`` in its environment, which its descendants inherit
even after double-forking, so a scan of ``/proc/*/environ`` finds them all.

A recorded process is recognised by its pid *and* its start ticks (field 22 of
``/proc/<pid>/stat``: clock ticks since boot, which no step of the wall clock changes,
be it NTP, a suspend and resume or a manual ``date -s``): a later process given the
same pid has other start ticks, and a clock step never makes ours look like another.

Everything here reads ``/proc`` directly, without psutil: ``symphony p`` and
``symphony ls`` use these functions, and importing psutil would slow every one of them.
"""

import collections
import os
import time

RUN_ID_VAR = "SYMPH_RUN_ID"
#: the key (``group/name``) of the process, in its environment and its descendants'
PROCESS_VAR = "SYMPH_PROCESS"

#: ``state`` (R, S, D, Z...), ``ppid``, ``start_ticks`` (start time in clock ticks since boot: tells a
#: process from a later one with its pid), ``session`` (session id: a process Symphony starts leads its
#: own session, its pid; its children do not). A plain named tuple: ``typing`` is no import of the
#: supervisor's start-up nor of ``symphony p``.
ProcStat = collections.namedtuple("ProcStat", ["state", "ppid", "start_ticks", "session"], defaults=(0,))


def proc_stat(pid):
    """What ``/proc/<pid>/stat`` says of ``pid`` (cheaper than psutil), None if there is no such process.

    Read as bytes through a bare descriptor: the supervisor reads it once per process it starts,
    and a buffered text file costs twice as much as the read itself."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            data = os.read(fd, 4096)  # (one line, well under a page: the name is at most 16 bytes)
        finally:
            os.close(fd)
        fields = data[data.rindex(b")") + 1:].split()  # the name in parentheses may hold anything
        return ProcStat(fields[0].decode(), int(fields[1]), int(fields[19]), int(fields[3]))
    except (OSError, IndexError, ValueError, TypeError):
        return None


def is_alive(pid):
    """Whether ``pid`` names a running process (not a zombie); one we may not signal counts as alive."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = proc_stat(pid)
    return stat is None or stat.state != "Z"  # (unreadable: it exists, so count it alive)


def parent_pid(pid):
    """Parent pid of ``pid``, None if it is gone."""
    stat = proc_stat(pid) if pid else None
    return stat.ppid if stat else None


def all_pids():
    """Every pid in ``/proc``, in increasing order (none without a ``/proc``: no run marker is readable then)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def _environ_values(pid, names):
    """``{name: value}`` of the variables ``names`` in the environment ``pid`` started with, read
    straight from /proc (psutil's environ() is slower); None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    wanted = {name.encode() + b"=": name for name in names}
    found = {}
    for entry in data.split(b"\0"):
        prefix = entry[:entry.find(b"=") + 1]
        if prefix in wanted:
            found[wanted[prefix]] = entry[len(prefix):].decode(errors="replace")
    return found


def _environ_marker(pid):
    """The SYMPH_RUN_ID of ``pid``, None if it has none."""
    return (_environ_values(pid, (RUN_ID_VAR,)) or {}).get(RUN_ID_VAR)


def find_run_processes(run_id):
    """Pids of live (non-zombie) processes whose environment carries ``run_id``."""
    found = []
    own = os.getpid()
    for pid in all_pids():
        if pid == own or _environ_marker(pid) != run_id:
            continue
        stat = proc_stat(pid)
        if stat is not None and stat.state != "Z":  # (None: it ended meanwhile)
            found.append(pid)
    return found


def run_process_keys(run_id):
    """``{pid: its SYMPH_PROCESS}`` of the live processes of the run (the key None for the run's own
    supervisors): what an adopting supervisor matches against its rows to recognise a process started
    by a supervisor that died before recording it."""
    found = {}
    own = os.getpid()
    for pid in all_pids():
        values = _environ_values(pid, (RUN_ID_VAR, PROCESS_VAR)) if pid != own else None
        if not values or values.get(RUN_ID_VAR) != run_id:
            continue
        stat = proc_stat(pid)
        if stat is not None and stat.state != "Z":
            found[pid] = values.get(PROCESS_VAR)
    return found


def _signal_all(pids, sig):
    for pid in pids:
        try:
            os.killpg(pid, sig)  # our processes lead their own process group
        except OSError:
            pass
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def start_ticks(pid):
    """When ``pid`` started, in clock ticks since boot (None if there is no such process): what a
    process row records next to the pid, so that :func:`is_recorded_process` can tell it apart."""
    stat = proc_stat(pid) if pid else None
    return stat.start_ticks if stat else None


def is_recorded_process(pid, ticks):
    """Whether ``pid`` is alive and is the process recorded as started at ``ticks`` (:func:`start_ticks`).

    Exact: a process that reused the pid started at other ticks. A record without ticks
    (written by an older Symphony) matches nothing; such processes are found by their run marker.
    """
    stat = proc_stat(pid) if pid and ticks is not None else None
    return stat is not None and stat.state != "Z" and stat.start_ticks == ticks


def supervisor_and_guardian(pid, ticks):
    """``[(pid, start ticks)]`` of a recorded supervisor and of its guardian, as they run now (empty if the
    supervisor is gone): what a delete stops besides the processes, by identity, since daemons forked
    out of the launcher carry the run's marker only once they have turned into interpreters of their own.

    The guardian is the supervisor's parent only while it is the leader of the session the supervisor
    was started in: once the guardian died, the parent is whoever adopted the orphan (init, a user's
    subreaper), never to be stopped."""
    stat = proc_stat(pid) if pid and ticks is not None else None
    if stat is None or stat.state == "Z" or stat.start_ticks != ticks:
        return []
    found = [(pid, ticks)]
    parent = proc_stat(stat.ppid)
    if parent is not None and stat.session == stat.ppid and parent.session == stat.ppid:
        found.append((stat.ppid, parent.start_ticks))
    return found


def stop_run(run_id, grace=5.0, recorded=(), remaining_count=lambda left: None):
    """SIGTERM every process of the run and their process groups, SIGKILL after ``grace``.

    ``recorded``: ``(pid, start ticks)`` of the processes the state knows, stopped too even if
    they cleared their environment (``env -i``) and so lost the run marker.
    ``remaining_count(n)`` hears how many are left at each look (a delete's progress line).
    Returns the pids that had to be killed with SIGKILL.
    """
    recorded = list(recorded)

    def remaining():
        left = sorted(set(find_run_processes(run_id)) |
                      {pid for pid, ticks in recorded if is_recorded_process(pid, ticks)})
        remaining_count(len(left))
        return left
    import signal
    _signal_all(remaining(), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not remaining():
            return []
        time.sleep(0.05)
    stubborn = set(remaining())
    _signal_all(stubborn, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while remaining() and time.monotonic() < deadline:
        time.sleep(0.05)
    return sorted(stubborn)


def signal_name(number):
    try:
        import signal
        return signal.Signals(number).name
    except (ValueError, TypeError):
        return f"signal {number}"
