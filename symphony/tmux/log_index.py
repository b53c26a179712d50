"""Keeps the ``--since`` index of every log of one tmux experiment, and its process rows current.

Windows write their output to log files through ``pipe-pane`` (a small Perl filter, so a
hundred windows cost a hundred tiny processes, not a hundred Python interpreters).
This one small process per experiment, started by the launch script itself
(``run-shell -b``), appends ``time offset`` lines to each log's index with
:class:`symphony.host.logs.IndexWriter`, as the local supervisor does, and reads the
windows' runners' events into the state database (:func:`symphony.tmux.runner.ingest`),
so the state is current without anyone running the CLI (which reads them too)::

    python -m symphony.tmux.log_index SERVER EXPERIMENT RUN_ID

It carries the run marker (``delete`` stops it) and also ends by itself once the
experiment is deleted or relaunched, or its tmux session is gone.
"""

import os
import sys
import time

from ..host.logs import INDEX_INTERVAL, IndexWriter
from ..state import StateStore
from .client import BACKEND, run_tmux
from .runner import EVENTS_FILE, ingest

#: seconds between checks that the experiment and its session still exist
LIVENESS_INTERVAL = 2.0


def still_wanted(store, server, experiment, run_id):
    row = store.get_experiment(BACKEND, experiment)
    if row is None or row["run_id"] != run_id:
        return False
    return run_tmux(server, "has-session", "-t", f"={experiment}").returncode == 0


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
    last_check = time.monotonic()
    while True:
        for writer in writers:
            writer.update()
        ingest(store, experiment, run_id, events)
        if time.monotonic() - last_check >= LIVENESS_INTERVAL:
            last_check = time.monotonic()
            if not still_wanted(store, server, experiment, run_id):
                for writer in writers:
                    writer.update(force=True)
                return 0
        time.sleep(INDEX_INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
