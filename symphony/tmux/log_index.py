"""Keeps the ``--since`` index of every log of one tmux experiment, and its process rows current.

Windows write their output to log files through ``pipe-pane`` (a small Perl filter, so a
hundred windows cost a hundred tiny processes, not a hundred Python interpreters).
This one small process per experiment, started by the launch script itself
(``run-shell -b``), appends ``time offset`` lines to each log's index with
:class:`symphony.host.logs.IndexWriter`, as the local supervisor does, and reads the
windows' runners' events into the state database (:func:`symphony.tmux.runner.ingest`),
so the state is current without anyone running the CLI (which reads them too). Where
the experiment declares readiness checks, it also runs them, each at its interval (at
most once per pass), and keeps how many failed after their service was first ready in
``readiness.json`` beside the logs: ``symphony p`` runs the checks itself when asked,
but only a process that is always there can count failures::

    python -m symphony.tmux.log_index SERVER EXPERIMENT RUN_ID

It carries the run marker (``delete`` stops it) and also ends by itself once the
experiment is deleted or relaunched, or its tmux session is gone.
"""

import os
import sys
import time

from ..host.logs import INDEX_INTERVAL, IndexWriter
from ..host.readiness import READINESS_FILE, read_document, write_document
from ..state import StateStore
from ..status import ProcessState
from .client import BACKEND, run_tmux
from .runner import EVENTS_FILE, ingest
from .script import READINESS_PLAN

#: seconds between checks that the experiment and its session still exist
LIVENESS_INTERVAL = 2.0


def still_wanted(store, server, experiment, run_id):
    row = store.get_experiment(BACKEND, experiment)
    if row is None or row["run_id"] != run_id:
        return False
    return run_tmux(server, "has-session", "-t", f"={experiment}").returncode == 0


class DeclaredChecks:
    """The declared checks of one experiment, run between two passes of the indexer (see the module)."""

    def __init__(self, log_dir, checks, providers):
        from ..readiness.tracker import ReadinessTracker
        self.path = os.path.join(log_dir, READINESS_FILE)
        self.tracker = ReadinessTracker(checks)
        self.providers = providers      # service -> process key
        self.runs = {}                  # service -> the provider's (pid, restarts) last seen running
        self.written = None

    @classmethod
    def load(cls, log_dir):
        """None when the experiment declares no check (nothing to run: the indexer stays as cheap as it was)."""
        planned = read_document(os.path.join(log_dir, READINESS_PLAN))
        if not planned:
            return None
        from ..resolution.resolved import ResolvedCheck
        checks, providers = [], {}
        for key, declared in planned["checks"].items():
            for data in declared:
                if data["declared"]:
                    checks.append(ResolvedCheck.from_dict(data))
                    providers[data["service"]] = key
        return cls(log_dir, checks, providers) if checks else None

    def run(self, rows):
        from ..readiness.probes import probe_on_this_host
        rows = {row["key"]: row for row in rows}
        now = time.time()
        for service, key in self.providers.items():
            row = rows.get(key)
            running = row is not None and row["status"] == ProcessState.RUNNING
            run = (row["pid"], row["restarts"]) if running else None
            if run != self.runs.get(service):
                self.runs[service] = run
                self.tracker.reset(service, now=now)  # started, restarted or ended: not ready until a check passes
            state = self.tracker.state(service)
            if running and state.next_due <= now:
                result = probe_on_this_host(state.check)
                self.tracker.record(service, result.ok, result.detail)
        seen = {service: {"ready": self.tracker.state(service).ready, "failures": self.tracker.state(service).failures}
                for service in self.providers}
        if seen != self.written:
            self.written = seen
            write_document(self.path, {"services": seen})


def main(argv=None):
    server, experiment, run_id = (argv or sys.argv[1:])[:3]
    store = StateStore()
    row = store.get_experiment(BACKEND, experiment)
    if row is None or row["run_id"] != run_id:
        return 0
    # the log files from the process rows: parsing the stored plan would cost a tenth of a second per
    # hundred processes, while the launch that started this indexer is still building their windows
    log_paths = [process["log_path"] for process in store.processes(BACKEND, experiment)]
    writers = [IndexWriter(path) for path in log_paths]
    events = os.path.join(os.path.dirname(log_paths[0]), EVENTS_FILE)
    checks = DeclaredChecks.load(os.path.dirname(log_paths[0]))
    last_check = time.monotonic()
    while True:
        for writer in writers:
            writer.update()
        ingest(store, experiment, run_id, events)
        if checks is not None:
            checks.run(store.processes(BACKEND, experiment))
        if time.monotonic() - last_check >= LIVENESS_INTERVAL:
            last_check = time.monotonic()
            if not still_wanted(store, server, experiment, run_id):
                for writer in writers:
                    writer.update(force=True)
                return 0
        time.sleep(INDEX_INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
