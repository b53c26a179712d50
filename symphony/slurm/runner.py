"""Each step's program, on the process's node: run the process, restart it by its policy, record its state.

    python -I -S runner.py STEP_FILE                 run the process the step file describes (``-``: stdin)
    python -I -S runner.py --exec STEP_FILE -- ARGV  run ARGV in its environment and directory instead
                                                     (``symphony exec``/``ssh``/``scp``)
    python -I -S runner.py --probe LOW,HIGH,COUNT[,FIXED...] -
                                                     first print this node's free ports, as
                                                     :mod:`symphony.slurm.probe` does, then run

Why a file run by path with ``-I -S`` and only the standard library's built-in modules: a launch
starts one runner per process, thirty at once for thirty processes, and the interpreter's own
start-up is most of a step's cost. Imported as ``symphony.slurm.runner`` it would load the
package (and ``typing``, ``subprocess``, ``socket``): about 75 ms of CPU each, against about
25 ms this way. So the driver hands each runner one small *step file* (``steps/<key>.json``:
argv, directory, environment, log, status file) rather than the whole resolved plan, and the
restart rule arrives evaluated: the driver asks :mod:`symphony.host.restarts`, the one rule of
every backend, and writes its answers (``decision``: restart after exit 0, after another exit,
after a signal; ``delays``: the backoff after 0, 1, 2... quick failures in a row, the last one
repeating; ``stable``: a run this long resets the count).

Slurm restarts nothing inside a job (``--requeue`` restarts the whole job, and only after a
node failure or a preemption), so the restart policy is applied here, by the process's parent.
Every change is written to the process's status file (atomically): state, node, pid, restarts,
exit code or signal, times; that is what ``symphony p`` reads.

The output goes straight into the log file; beside it, the ``--since`` index
(:mod:`symphony.host.logs`' format, ``time size`` lines while the log grows). On SIGTERM
(``scancel``, the end of the job's time) or SIGINT the process's whole process group gets
SIGTERM, then SIGKILL after the grace period.
"""

import os
import sys
import time

# The C half of ``signal``, and JSON by the C half of ``json`` (symphony/host/plainjson.py, loaded by
# path): the Python modules import ``enum`` and ``re``, which were half of this program's start-up
# (about 12 ms of 25), paid by every process of a launch.
try:
    import _signal as signal
except ImportError:  # (an interpreter without it: the same names, from the module)
    import signal  # type: ignore[no-redef]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host"))
from plainjson import dumps as _json_dumps, loads as _json_loads  # noqa: E402
del sys.path[0]

#: how often the ``--since`` index is brought up to date while the process runs (host.logs.INDEX_INTERVAL)
INDEX_INTERVAL = 0.5
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}


def _signal_name(number):
    """``SIGTERM`` for 15, as :func:`symphony.host.processes.signal_name` names it (only when a process was
    killed: the module's enum is imported then)."""
    import signal as named
    try:
        return named.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _load(step_file):
    """The step file, or with ``-`` the same from stdin: the driver starts the step before the addresses are
    known, and writes it there once they are (a pipe, unlike a file on a shared file system, is never stale)."""
    if step_file != "-":
        with open(step_file, "rb") as handle:
            return _json_loads(handle.read().decode())
    chunks = []
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        sys.exit(0)  # the launch failed before it told this step anything: nothing ran, nothing to record
    return _json_loads(b"".join(chunks).decode())


class Runner:
    def __init__(self, step):
        self.step = step
        self.record = {"state": "running", "node": os.environ.get("SLURMD_NODENAME") or os.uname().nodename,
                       "restarts": 0}
        self.index_path = step["log"] + ".index"
        self.index_size = -1

    def write(self, **fields):
        self.record.update(fields)
        path = self.step["status"]
        with open(path + ".tmp", "w") as handle:
            handle.write(_json_dumps(self.record))
        os.replace(path + ".tmp", path)

    def index(self):
        try:
            size = os.path.getsize(self.step["log"])
        except OSError:
            return
        if size != self.index_size:
            with open(os.open(self.index_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as handle:
                handle.write(f"{time.time():.3f} {size}\n")
            self.index_size = size

    def start(self, log_fd):
        """Fork and exec the process in a session of its own; a program that cannot run exits 127/126 with
        the reason in its log, as a shell reports it."""
        step = self.step
        pid = os.fork()
        if pid:
            return pid
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            try:
                if step["cwd"] is not None:  # None: the image's working directory, where srun started the runner
                    os.chdir(step["cwd"])
            except OSError as exc:
                os.write(2, f"symphony: cannot enter {step['cwd']}: {exc.strerror}\n".encode())
                os._exit(1)
            env = {**os.environ, **step["env"]}
            try:
                os.execvpe(step["argv"][0], step["argv"], env)
            except OSError as exc:
                os.write(2, f"symphony: {step['argv'][0]}: {exc.strerror}\n".encode())
                os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
        finally:
            os._exit(127)

    def hold(self, log_fd):
        """Before the first start, hold the process until the services it waits for are ready
        (:func:`symphony.readiness.wait_until_ready`, checking each provider's node address), recorded as
        ``waiting`` for ``symphony p``. Returns whether to start it: at a deadline its ``on_timeout`` says,
        and a process not started is recorded ``failed`` with the reason. Only a step that waits imports
        anything of Symphony, from the checkout the driver named; a stop meanwhile ends the runner as is."""
        from types import SimpleNamespace
        step = self.step
        sys.path.insert(0, step["symphony_path"])
        from symphony.readiness.wait import wait_until_ready
        waits = [SimpleNamespace(**{**wait, "check": SimpleNamespace(**wait["check"])}) for wait in step["waits"]]
        begun = time.time()
        services = [wait.service for wait in waits]
        self.write(state="waiting", waiting_for=services, waiting_since=begun)
        os.write(log_fd, f"symphony: waiting for {', '.join(services)}\n".encode())
        outcome = wait_until_ready(waits, started=begun)
        if outcome.reason:
            os.write(log_fd, f"symphony: {outcome.reason}\n".encode())
        if not outcome.start:
            self.write(state="failed", detail=outcome.reason, waiting_for=services, finished=time.time())
            return False
        self.write(waiting_for=[])
        return True

    def run(self):
        step = self.step
        stopping, failures = False, 0
        log_fd = os.open(step["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if step.get("waits") and not self.hold(log_fd):
            return 1
        signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        while True:
            started = time.time()
            pid = self.start(log_fd)
            self.write(state="running", pid=pid, started=started, finished=None, exit_code=None, signal=None)
            status, stopping = self.wait(pid, stopping)
            self.index()
            ended = time.time()
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            name = _signal_name(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None
            kind = 0 if code == 0 else (2 if name else 1)
            if stopping or step["decision"][kind] != "1":
                self.write(state="killed" if name else "exited", exit_code=code, signal=name, finished=ended)
                return code if code is not None else 128 + os.WTERMSIG(status)
            failures = 0 if ended - started >= step["stable"] else failures + 1
            self.write(state="restarting", exit_code=code, signal=name, finished=ended,
                       restarts=self.record["restarts"] + 1)
            deadline = time.monotonic() + step["delays"][min(failures, len(step["delays"]) - 1)]
            while not stopping and time.monotonic() < deadline:
                caught = signal.sigtimedwait(_WATCHED, max(0.0, deadline - time.monotonic()))
                stopping = caught is not None and caught.si_signo != signal.SIGCHLD
            if stopping:
                self.write(state="killed", exit_code=None, signal="SIGTERM", finished=time.time())
                return 143

    def wait(self, pid, stopping):
        """(wait status, whether a stop was asked) once the child ended: SIGTERM to its group on a stop, SIGKILL
        after the grace period. Signals are taken synchronously, so an end is seen at once."""
        term_at = None
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, stopping
            caught = signal.sigtimedwait(_WATCHED, INDEX_INTERVAL)
            if caught is not None and caught.si_signo != signal.SIGCHLD and not stopping:
                stopping, term_at = True, time.monotonic()
                _kill_group(pid, signal.SIGTERM)
            if term_at is not None and time.monotonic() - term_at > self.step["grace"]:
                _kill_group(pid, signal.SIGKILL)
            self.index()


def _kill_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def exec_in(step, argv):
    """Replace this program by ``argv``, in the process's environment and working directory."""
    try:
        if step["cwd"] is not None:
            os.chdir(step["cwd"])
    except OSError as exc:
        print(f"symphony: cannot enter {step['cwd']}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        os.execvpe(argv[0], argv, {**os.environ, **step["env"]})
    except FileNotFoundError:
        print(f"symphony: {argv[0]}: command not found", file=sys.stderr)
        return 127
    except PermissionError:
        print(f"symphony: {argv[0]}: permission denied (not executable)", file=sys.stderr)
        return 126


def probe(words):
    """One JSON line on stdout: the free ports the driver asked this node for (the first step on each node
    looks, rather than a step of its own queued behind every process's step)."""
    low, high, count, *fixed = (int(word) for word in words.split(","))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from probe import probe as look
    del sys.path[0]
    os.write(1, (_json_dumps(look(count, fixed, (low, high))) + "\n").encode())


def main(argv):
    if argv and argv[0] == "--probe":
        probe(argv[1])
        argv = argv[2:]
    if argv and argv[0] == "--exec":
        step_file, separator, *command = argv[1:]
        return exec_in(_load(step_file), command)
    return Runner(_load(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
