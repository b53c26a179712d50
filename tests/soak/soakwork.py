"""What the soak test and the supervisor fault test run and how they judge it, backend by backend.

* :data:`WORKLOAD`: the program every process runs (Python, exec form, so the process is the
  program itself on every backend). It numbers its runs in a counter file that survives its
  restarts (a host directory on local/tmux, the container's own /tmp on Docker) and its output
  lines, one line every 0.25 s (0.5 s when long-running), each ``<process> <run> <line> <wall
  time> <event>`` with event ``start``, ``tick``, ``exit <code>`` or ``signal SIG<NAME>``; the
  last two are written just before it exits or kills itself. A mode says how long a run lasts
  and how it ends: ``long`` never ends, ``LOW-HIGH:E1,E2,...`` runs LOW..HIGH seconds (the same
  pseudo-random draw for a given process and run) and ends run ``n`` with ``E[(n - 1) % len]``,
  each ``x<code>`` (exit), ``s<NAME>`` (kill itself with SIG<NAME>) or ``w`` (go on forever).
* :func:`analyse`: one process's log read back as runs; lines lost, duplicated or out of order;
  every restart (or its absence) against the restart policy, and its delay against the
  backoff every backend promises (:class:`HostBackoff`) plus a margin.
* :class:`CpuHogs`, :class:`LoadSampler`, :class:`Follower`: the load, its record, and one
  ``get_log(..., follow=True)`` reader per process.
"""

import os
import re
import subprocess
import threading
import time
from collections import Counter

import pytest

from symphony.host.restarts import MAX_BACKOFF_SECONDS, STABLE_RUN_SECONDS, restart_delay, should_restart

WORKLOAD = r'''
import os, random, signal, sys, time
name, mode = sys.argv[1], sys.argv[2]
state = os.environ["SOAK_STATE"]
os.makedirs(state, exist_ok=True)
counter = os.path.join(state, name + ".runs")
try:
    with open(counter) as handle:
        run = int(handle.read()) + 1
except (OSError, ValueError):
    run = 1
with open(counter + ".tmp", "w") as handle:
    handle.write(str(run))
os.replace(counter + ".tmp", counter)
line = 0


def say(event):
    global line
    line += 1
    sys.stdout.write("%s %d %d %.3f %s\n" % (name, run, line, time.time(), event))
    sys.stdout.flush()


say("start")
if mode == "long":
    while True:
        time.sleep(0.5)
        say("tick")
span, endings = mode.split(":")
low, high = (float(bound) for bound in span.split("-"))
endings = endings.split(",")
ending = endings[(run - 1) % len(endings)]
deadline = time.monotonic() + random.Random("%s/%d" % (name, run)).uniform(low, high)
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    time.sleep(min(0.25, left))
    say("tick")
while ending == "w":
    time.sleep(0.5)
    say("tick")
if ending[0] == "x":
    say("exit " + ending[1:])
    os._exit(int(ending[1:]))
number = getattr(signal, "SIG" + ending[1:])
say("signal SIG" + ending[1:])
if number != signal.SIGKILL:
    signal.signal(number, signal.SIG_DFL)  # (Python turns SIGINT into an exception otherwise)
os.kill(os.getpid(), number)
time.sleep(60)
os._exit(99)
'''

#: where the soak test leaves its summaries for tests/soak/conftest.py to print: [(title, text)]
SUMMARIES = pytest.StashKey()

LINE = re.compile(r"^(\S+) (\d+) (\d+) (\d+\.\d+) (start|tick|exit (-?\d+)|signal (SIG[A-Z0-9]+))$")

#: a restart may come this much later than its backoff (the brief's allowance for the machinery:
#: noticing the end, starting the program, the program writing its first line)
RESTART_MARGIN = 2.0
#: a run whose own measured length is this close to the backend's "stable run" threshold may
#: have been measured on either side of it by the supervisor, which times from before the
#: program starts to after its end is noticed: both backoff outcomes are allowed then
STABLE_AMBIGUITY = 3.0


# --- the backoff each backend promises ------------------------------------------------------
class HostBackoff:
    """Every backend (symphony/host/restarts.py; Docker's restart runner gets the same numbers):
    ``restart_backoff`` doubled per quick failure
    in a row (a run shorter than STABLE_RUN_SECONDS), at most MAX_BACKOFF_SECONDS; a stable run
    resets the count. The state is the count of quick failures in a row."""

    stable_seconds = STABLE_RUN_SECONDS
    initial = 0

    def __init__(self, backoff):
        self.backoff = backoff

    def after(self, state, stable):
        return 0 if stable else state + 1

    def delay(self, state):
        return restart_delay(self.backoff, state)

    def describe(self):
        return (f"restart_backoff {self.backoff:g} s doubled per quick failure in a row, at most "
                f"{MAX_BACKOFF_SECONDS:g} s, reset by a run of {STABLE_RUN_SECONDS:g} s")


# --- reading the logs back ------------------------------------------------------------------
class Run:
    def __init__(self, number):
        self.number = number
        self.lines = {}  # line number -> (wall time, event)

    @property
    def started(self):
        return self.lines[1][0] if 1 in self.lines and self.lines[1][1] == "start" else None

    @property
    def end(self):
        """(wall time, exit code or None, signal name or None) of the run's end line, None if it has none."""
        if not self.lines:
            return None
        when, event = self.lines[max(self.lines)]
        if event.startswith("exit "):
            return when, int(event.split()[1]), None
        if event.startswith("signal "):
            return when, None, event.split()[1]
        return None


class Analysis:
    """What one process's log says (see :func:`analyse`)."""

    def __init__(self, name, policy):
        self.name, self.policy = name, policy
        self.runs = {}
        self.lines = self.duplicated = self.out_of_order = self.lost = 0
        self.foreign = []
        self.problems = []
        self.restarts_observed = self.restarts_expected = self.pending = 0
        self.delays = []  # (run that ended, delay, backoff, allowed)

    @property
    def run_count(self):
        return max(self.runs) if self.runs else 0

    @property
    def last_end(self):
        return self.runs[self.run_count].end if self.runs else None

    def worst_delay(self):
        return max(self.delays, key=lambda d: d[1], default=None)

    def worst_overrun(self):
        return max(self.delays, key=lambda d: d[1] - d[2], default=None)


def analyse(name, policy, lines, backoff, fetched_at):
    """One process's log: numbering (lost, duplicated, out of order) and restarts.

    For every run that ended: it must be followed by another run exactly when the policy says
    so (``should_restart``: one rule, shared by every backend's restart policy); the next run
    must start within the backoff the backend promises plus :data:`RESTART_MARGIN`; a restart
    still due at ``fetched_at`` (when the log was read) is pending, not missing.
    """
    result = Analysis(name, policy)
    seen, last = set(), (0, 0)
    for text in lines:
        match = LINE.match(text)
        if match is None or match.group(1) != name:
            result.foreign.append(text)
            continue
        key = (int(match.group(2)), int(match.group(3)))
        result.lines += 1
        if key in seen:
            result.duplicated += 1
            continue
        seen.add(key)
        if key < last:
            result.out_of_order += 1
        last = max(last, key)
        result.runs.setdefault(key[0], Run(key[0])).lines[key[1]] = (float(match.group(4)), match.group(5))
    count = result.run_count
    for number in range(1, count + 1):
        run = result.runs.get(number)
        if run is None:
            result.lost += 1  # a whole run: at least its start line
            result.problems.append(f"run {number} is missing from the log")
            continue
        gaps = max(run.lines) - len(run.lines)
        if gaps:
            result.lost += gaps
            result.problems.append(f"run {number}: {gaps} line(s) missing")
        if number < count and run.end is None:
            result.lost += 1
            result.problems.append(f"run {number} was followed by run {number + 1} but its end line is missing")
    states = {backoff.initial}
    for number in range(1, count + 1):
        run, following = result.runs.get(number), result.runs.get(number + 1)
        if number < count:
            result.restarts_observed += 1
        if run is None or run.end is None or run.started is None:
            states = {backoff.initial, *states}  # unknown: no judgement on this run's restart
            continue
        ended, exit_code, killed_by = run.end
        wanted = should_restart(policy, exit_code, killed_by)
        length = ended - run.started
        if length >= backoff.stable_seconds:
            stable = {True}
        elif length < backoff.stable_seconds - STABLE_AMBIGUITY:
            stable = {False}
        else:
            stable = {True, False}
        if wanted:
            states = {backoff.after(state, s) for state in states for s in stable}
        due = max(backoff.delay(state) for state in states)
        outcome = f"exit {exit_code}" if killed_by is None else killed_by
        if number < count:
            if not wanted:
                result.problems.append(f"run {number} ended with {outcome} under {policy} yet was restarted")
            elif following is not None and following.started is not None:
                delay = following.started - ended
                allowed = due + RESTART_MARGIN
                result.restarts_expected += 1
                result.delays.append((number, delay, due, allowed))
                if delay > allowed:
                    result.problems.append(
                        f"run {number} ({outcome}) restarted after {delay:.2f} s, allowed {allowed:.2f} s (backoff "
                        f"{due:.2f} s + {RESTART_MARGIN:g} s)")
            else:
                result.restarts_expected += 1
        elif wanted:
            allowed = due + RESTART_MARGIN
            if fetched_at - ended <= allowed:
                result.pending += 1
            else:
                result.restarts_expected += 1
                result.problems.append(f"run {number} ended with {outcome} under {policy} at {ended:.3f} and was "
                                       f"not restarted {fetched_at - ended:.1f} s later (allowed {allowed:.2f} s)")
    if result.duplicated:
        result.problems.append(f"{result.duplicated} duplicated line(s)")
    if result.out_of_order:
        result.problems.append(f"{result.out_of_order} line(s) out of order")
    if result.foreign:
        result.problems.append(f"{len(result.foreign)} unexpected line(s), e.g. {result.foreign[0][:120]!r}")
    return result


def follower_figures(snapshot, followed):
    """(lost, duplicated, out of order) of what a ``logs --follow`` reader saw, against ``snapshot``
    (the whole log read once at the end): every snapshot line seen, once, in the same order."""
    seen = Counter(followed)
    lost = sum(1 for line in snapshot if line not in seen)
    duplicated = sum(count - 1 for count in seen.values())
    in_snapshot = set(snapshot)
    common = [line for line in followed if line in in_snapshot]
    expected = [line for line in snapshot if line in seen]
    out_of_order = 0 if common == expected else sum(1 for a, b in zip(common, expected) if a != b) or 1
    return lost, duplicated, out_of_order


# --- load -----------------------------------------------------------------------------------
def cores():
    """The cores this test may use (its CPU affinity), which is what the load is compared with."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_1min():
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


class CpuHogs:
    """Busy-loop processes (``sh -c 'while :; do :; done'``, about 1 MB each) at this test's own
    nice value; started with :meth:`start`, all killed by :meth:`stop` (only the ones started here)."""

    def __init__(self):
        self.processes = []

    def start(self, count):
        started = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                   for _ in range(count)]
        self.processes += started
        return started

    def stop(self, processes=None):
        processes = list(self.processes if processes is None else processes)
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait(timeout=30)
            self.processes.remove(process)

    def alive(self):
        return sum(1 for process in self.processes if process.poll() is None)

    def warm_up(self, target, permanent, extra, timeout):
        """Start ``permanent`` hogs plus ``extra`` ones until the 1-minute load reaches ``target``
        (it is a 60 s average: ``permanent`` alone would only approach it), then stop the extra ones.
        Returns the seconds it took."""
        begun = time.monotonic()
        self.start(permanent)
        boost = self.start(extra)
        while load_1min() < target and time.monotonic() - begun < timeout:
            time.sleep(1.0)
        self.stop(boost)
        return time.monotonic() - begun


class LoadSampler(threading.Thread):
    """The 1-minute load average, once a second, until :meth:`finish`."""

    def __init__(self):
        super().__init__(daemon=True, name="load-sampler")
        self.samples = []
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.samples.append((time.time(), load_1min()))
            self._done.wait(1.0)

    def finish(self):
        self._done.set()
        self.join(timeout=5)
        return self.samples


# --- following logs -------------------------------------------------------------------------
class Follower(threading.Thread):
    """``get_log(experiment, process, follow=True)`` on a cluster of its own (``make_cluster()``),
    from the start: records every line and when the stream ended."""

    def __init__(self, make_cluster, experiment, process):
        super().__init__(daemon=True, name=f"follow-{process}")
        self.make_cluster, self.experiment, self.process = make_cluster, experiment, process
        self.lines = []
        self.error = None
        self.ended_at = None

    def run(self):
        try:
            for line in self.make_cluster().get_log(self.experiment, self.process, follow=True):
                self.lines.append(line)
        except Exception as exc:  # the experiment deleted under it, an engine error: recorded, judged later
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ended_at = time.time()


# --- the table ------------------------------------------------------------------------------
def table(header, rows):
    """A plain-text table (every cell str'd), for the terminal summary and assertion messages."""
    cells = [[str(cell) for cell in header]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
