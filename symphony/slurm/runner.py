"""Each step's program, on the process's node: run the process, restart it by its policy, record its state.

Slurm restarts nothing inside a job (``--requeue`` restarts the whole job, and only after a
node failure or a preemption), so the restart policy of a process is applied here, by its
parent, with the host backends' one decision and backoff (:mod:`symphony.host.restarts`).
Every change is written to the process's status file in the job directory (atomically), which
is what ``symphony p`` reads: state, node, pid, restarts, exit code or signal, times.

The output goes straight into the process's log file (beside it, the ``--since`` index).
On SIGTERM (``scancel``, or the end of the job's time) the process's whole process group gets
SIGTERM, then SIGKILL after the grace period.

``--exec JOB_DIR KEY -- ARGV``: run ARGV in the process's environment and directory instead
(``symphony exec``/``ssh``/``scp``).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from ..host.logs import IndexWriter
from ..host.restarts import failures_in_a_row, restart_delay, should_restart
from .paths import status_path_for


class _Plain:
    """A stored plan's fields as attributes (the runner starts thirty times per launch: it reads the
    JSON directly rather than import the plan's dataclasses)."""

    def __init__(self, data):
        self.__dict__.update(data)


def _process(job_dir, key):
    with open(os.path.join(job_dir, "resolved.json")) as handle:
        plan = _Plain(json.load(handle))
    return plan, _Plain(next(p for p in plan.processes if p["key"] == key))


class Runner:
    def __init__(self, job_dir, key):
        self.plan, self.process = _process(job_dir, key)
        self.status_path = status_path_for(job_dir, key)
        self.node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        self.record = {"state": "running", "node": self.node, "restarts": 0}
        self.child = None
        self.stopping = False

    def write(self, **fields):
        self.record.update(fields)
        with open(self.status_path + ".tmp", "w") as handle:
            json.dump(self.record, handle)
        os.replace(self.status_path + ".tmp", self.status_path)

    def stop(self, signum, frame):
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self):
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        process = self.process
        env = {**os.environ, **process.env}
        failures = 0
        with open(process.log_path, "ab", buffering=0) as log:
            index = IndexWriter(process.log_path)
            while True:
                started = time.time()
                try:
                    self.child = subprocess.Popen(process.argv, cwd=process.cwd, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                  start_new_session=True)
                except OSError as exc:  # exit codes as a shell gives them
                    log.write(f"symphony: {process.argv[0]}: {exc.strerror}\n".encode())
                    code, name = (127 if isinstance(exc, FileNotFoundError) else 126), None
                    self.write(state="running", pid=None, started=started, finished=None)
                else:
                    self.write(state="running", pid=self.child.pid, started=started, finished=None, exit_code=None,
                               signal=None)
                    code, name = self._wait(index)
                index.update(force=True)
                ended = time.time()
                if self.stopping or not should_restart(process.restart_policy, code, name):
                    self.write(state="killed" if name else "exited", exit_code=code, signal=name, finished=ended)
                    return code if code is not None else 128 + signal.Signals[name].value
                failures = failures_in_a_row(ended - started, failures)
                self.write(state="restarting", exit_code=code, signal=name, finished=ended,
                           restarts=self.record["restarts"] + 1)
                deadline = time.monotonic() + restart_delay(self.plan.restart_backoff, failures)
                while time.monotonic() < deadline and not self.stopping:
                    time.sleep(0.05)
                if self.stopping:
                    self.write(state="killed", exit_code=None, signal="SIGTERM", finished=time.time())
                    return 143

    def _wait(self, index):
        """(exit code, None) or (None, signal name) once the child ended; SIGKILL after the grace period."""
        term_at = None
        while True:
            try:
                status = self.child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                index.update()
                if self.stopping:
                    term_at = term_at or time.monotonic()
                    if time.monotonic() - term_at > self.plan.grace:
                        try:
                            os.killpg(self.child.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        if status < 0:
            return None, signal.Signals(-status).name
        return status, None


def exec_in(job_dir, key, argv):
    """Replace this program by ``argv``, in the process's environment and working directory."""
    _, process = _process(job_dir, key)
    try:
        os.chdir(process.cwd)
    except OSError as exc:
        print(f"symphony: cannot enter {process.cwd}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        os.execvpe(argv[0], argv, {**os.environ, **process.env})
    except FileNotFoundError:
        print(f"symphony: {argv[0]}: command not found", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"symphony: {argv[0]}: permission denied (not executable)", file=sys.stderr)
        return 126


def main(argv):
    if argv and argv[0] == "--exec":
        job_dir, key, separator, *command = argv[1:]
        return exec_in(job_dir, key, command)
    return Runner(argv[0], argv[1]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
