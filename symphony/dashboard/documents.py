"""The data the dashboard shows, in the very shapes the ``symphony`` command prints.

The page's API is ``symphony p -o json``: :func:`processes_document` builds that
document from ``Cluster.describe_experiment`` exactly as ``list-processes`` does, so a
script and the page never disagree. Everything here runs in worker threads (backends
block on SQLite, tmux and the Docker engine) and imports no web code.
"""

import os
import time

from ..status import ProcessState


def processes_document(cluster, experiment):
    """``symphony p EXPERIMENT -o json``, as a dict (built by the command's own function)."""
    from ..status import processes_document as document
    return document(experiment, backend_name(cluster), cluster.describe_experiment(experiment))


def backend_name(cluster):
    """The backend's name as the command prints it."""
    return cluster.backend_name or type(cluster).__name__


#: states counted as failed on the experiments page: ended by a signal, given up, or lost
_FAILED = {ProcessState.KILLED.value, ProcessState.FAILED.value, ProcessState.LOST.value}


def experiment_summary(document):
    """One row of the experiments page from a :func:`processes_document`: counts by state, and the
    start of its earliest process (the page shows the age)."""
    processes = document["processes"]
    starts = [p["started"] for p in processes if p["started"]]
    return {
        "backend": document["backend"], "name": document["experiment"], "processes": len(processes),
        "running": sum(p["state"] == ProcessState.RUNNING.value for p in processes),
        "restarting": sum(p["state"] == ProcessState.RESTARTING.value for p in processes),
        "failed": sum(p["state"] in _FAILED or (p["state"] == ProcessState.EXITED.value and bool(p["exit_code"]))
                      for p in processes),
        "restarts": sum(p["restarts"] or 0 for p in processes),
        "started": min(starts) if starts else None,
    }


def backend_overview(cluster):
    """Every experiment of one backend, summarised; an experiment deleted while it is being read is
    left out (it is gone)."""
    from ..errors import ExperimentNotFoundError
    rows = []
    for name in cluster.list_experiments():
        try:
            rows.append(experiment_summary(processes_document(cluster, name)))
        except ExperimentNotFoundError:
            continue
    return rows


class HostMetrics:
    """CPU% and memory of host processes (local, tmux), by pid, read from ``/proc/<pid>/stat``.

    One small read per process and no library: psutil's per-process objects took over half a
    second per look at 1,000 processes here, which would delay every update of the page.
    CPU% is the CPU time used between two looks over the time between them, so the previous
    look of each pid is kept; a pid is known by its start time (field 22) as well, so a reused
    pid starts afresh, and pids no longer reported are dropped at every look, so the cache
    never holds more than the experiment's processes.
    """

    def __init__(self):
        self._last = {}                          # pid -> (start ticks, cpu ticks, when)
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")

    def sample(self, pids):
        """``{pid: [cpu percent, rss bytes]}`` of the live ones among ``pids``."""
        wanted = {pid for pid in pids if pid}
        for pid in [pid for pid in self._last if pid not in wanted]:
            del self._last[pid]
        result = {}
        for pid in wanted:
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    text = handle.read()
            except OSError:
                self._last.pop(pid, None)
                continue
            fields = text[text.rindex(b")") + 2:].split()  # after the command name, which may hold spaces
            if fields[0] in (b"Z", b"X"):                   # ended, not yet reaped
                self._last.pop(pid, None)
                continue
            cpu, start, rss = int(fields[11]) + int(fields[12]), fields[19], int(fields[21]) * self._page
            when = time.monotonic()
            previous = self._last.get(pid)
            percent = 0.0
            if previous is not None and previous[0] == start and when > previous[2]:
                percent = round(100.0 * (cpu - previous[1]) / self._ticks / (when - previous[2]), 1)
            self._last[pid] = (start, cpu, when)
            result[pid] = [percent, rss]
        return result


def now():
    """The server's clock, sent with every update so the page computes ages as the command does."""
    return time.time()
