"""The original subprocess backend: processes whose output goes to this terminal, and a launch
that returns when they have all ended.

* :class:`SubprocManager` starts shell commands as children of this Python process and
  waits for them (``join``), stopping the others when one fails — a small tool that
  needs no backend at all.
* ``Cluster.new('subproc', stdout_mode=..., stderr_mode=..., log_dir=...)`` and
  ``SubprocCluster(...)`` are the local backend (supervised processes, ``symphony p``
  and ``symphony logs`` work meanwhile) with the original's foreground launch: their
  output is copied here as it comes (or to ``log_dir``), ``launch`` returns when every
  process has ended, and the first failure stops the rest. The experiment is then
  deleted, so the same script can run again, as it could with the original.

  The local backend keeps one log per process, stdout and stderr together, so the
  modes that need them apart are refused in one line at construction.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, IO, Mapping, Optional

from ..errors import BackendSettingError, SymphonyError
from ..status import ProcessState

_STDOUT_MODES = ("print", "file", "none")
_STDERR_MODES = ("print", "file", "none", "stdout")


def _mode(what: str, value: object, allowed: tuple) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise BackendSettingError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value.lower()


def _log_dir(stdout_mode: str, stderr_mode: str, log_dir: Optional[str]) -> Optional[str]:
    if "file" not in (stdout_mode, stderr_mode):
        return None
    if not log_dir:
        raise BackendSettingError("stdout_mode or stderr_mode 'file' writes <name>.out/.err into log_dir: "
                                  "give log_dir='logs' (a directory, created if missing)")
    directory = os.path.expanduser(str(log_dir))
    os.makedirs(directory, exist_ok=True)
    return directory


class SubprocManager:
    """Start shell commands as children of this process and wait for them.

    ``stdout_mode``: 'print' (this terminal), 'file' (``<log_dir>/<name>.out``) or 'none';
    ``stderr_mode``: the same (``<name>.err``) or 'stdout' (with the output).
    Each command runs in ``/bin/bash`` in its own process group, so ``kill`` reaches
    whatever it started too.
    """

    def __init__(self, stdout_mode: str = "print", stderr_mode: str = "print", log_dir: Optional[str] = None) -> None:
        self.stdout_mode = _mode("stdout_mode", stdout_mode, _STDOUT_MODES)
        self.stderr_mode = _mode("stderr_mode", stderr_mode, _STDERR_MODES)
        self.log_dir = _log_dir(self.stdout_mode, self.stderr_mode, log_dir)
        self.processes: Dict[str, subprocess.Popen] = {}
        self._files: Dict[str, list] = {}

    def _stream(self, name: str, mode: str, suffix: str) -> Any:
        if mode == "print":
            return None
        if mode == "stdout":
            return subprocess.STDOUT
        if mode == "none":
            return subprocess.DEVNULL
        stream = open(os.path.join(str(self.log_dir), name + suffix), "w")
        self._files.setdefault(name, []).append(stream)
        return stream

    def launch(self, name: str, cmd: str, env: Optional[Mapping[str, Any]] = None) -> subprocess.Popen:
        """Start ``cmd`` (a shell line) as ``name``, with this environment plus ``env``; returns its Popen."""
        if name in self.processes:
            raise SymphonyError(f"process {name!r} already exists in this SubprocManager: choose another name")
        if not isinstance(cmd, str):
            raise SymphonyError(f"SubprocManager.launch() runs one shell line, got {cmd!r}")
        environment = dict(os.environ)
        environment.update({str(k): str(v) for k, v in (env or {}).items()})
        proc = subprocess.Popen(cmd, shell=True, executable="/bin/bash", env=environment, text=True, bufsize=1,
                                stdout=self._stream(name, self.stdout_mode, ".out"),
                                stderr=self._stream(name, self.stderr_mode, ".err"), start_new_session=True)
        self.processes[name] = proc
        return proc

    def _process(self, name: str) -> subprocess.Popen:
        try:
            return self.processes[name]
        except KeyError:
            raise SymphonyError(f"no process {name!r} in this SubprocManager: it has "
                                f"{', '.join(self.processes) or 'none'}") from None

    def poll(self, name: str) -> Optional[int]:
        """None while ``name`` runs, else its exit code (negative: the signal that ended it)."""
        return self._process(name).poll()

    def poll_all(self) -> Dict[str, Optional[int]]:
        return {name: proc.poll() for name, proc in self.processes.items()}

    def kill(self, name: str, signal: int = signal.SIGTERM, verbose: bool = False) -> None:
        """Send ``signal`` to ``name``'s process group (what it started gets it too)."""
        proc = self._process(name)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal)
            except ProcessLookupError:
                return
            if verbose:
                print(f"sent signal {int(signal)} to process {name!r}")

    def kill_all(self, verbose: bool = False, grace: float = 1.0) -> None:
        """SIGTERM to every process still running, then SIGKILL to those still there after ``grace`` seconds."""
        import signal as signals
        for name in self.processes:
            self.kill(name, signals.SIGTERM, verbose)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.poll() is None for p in self.processes.values()):
            time.sleep(0.05)
        for name in self.processes:
            self.kill(name, signals.SIGKILL, verbose)
        for proc in self.processes.values():
            proc.wait()
        self._close_files()

    def join(self, kill_on_error: bool = True, poll_interval: float = 1.0) -> Dict[str, Optional[int]]:
        """Wait until every process has ended, printing how each ended; with ``kill_on_error`` the
        first failure stops the rest. Ctrl-C stops them all. Returns their exit codes."""
        remaining = list(self.processes)
        try:
            while remaining:
                for name in list(remaining):
                    code = self.processes[name].poll()
                    if code is None:
                        continue
                    remaining.remove(name)
                    if code == 0:
                        print(f'PROCESS "{name}" DONE', flush=True)
                        continue
                    print(f'PROCESS "{name}" TERMINATED WITH ERROR CODE {code}', flush=True)
                    if kill_on_error:
                        print("KILLING ALL REMAINING PROCESSES ...", flush=True)
                        self.kill_all()
                        remaining = []
                        break
                if remaining:
                    time.sleep(min(poll_interval, 0.1) if poll_interval > 0.1 else poll_interval)
        except KeyboardInterrupt:
            print("INTERRUPTED, KILLING ALL REMAINING PROCESSES ...", flush=True)
            self.kill_all()
            raise
        self._close_files()
        return self.poll_all()

    def _close_files(self) -> None:
        for streams in self._files.values():
            for stream in streams:
                stream.close()
        self._files.clear()


def _checked_modes(stdout_mode: str, stderr_mode: str) -> None:
    """Refuse the modes that need stdout and stderr apart (one log per process keeps them together)."""
    together = {("print", "print"), ("print", "stdout"), ("file", "stdout"), ("none", "none"), ("none", "stdout")}
    if (stdout_mode, stderr_mode) not in together:
        if stdout_mode == "file":
            fix = "stderr_mode='stdout' (both in <log_dir>/<name>.out)"
        elif stdout_mode == "print":
            fix = "stderr_mode='print'"
        else:
            fix = "stderr_mode='none'"
        raise BackendSettingError(
            f"Cluster.new('subproc', stdout_mode={stdout_mode!r}, stderr_mode={stderr_mode!r}) needs stdout and "
            f"stderr apart, but each process has one log of both: use {fix}, or SubprocManager for separate streams")


_DONE_STATES = frozenset((ProcessState.EXITED, ProcessState.KILLED, ProcessState.FAILED, ProcessState.LOST))
_CLASS: Optional[type] = None


def subproc_cluster_class() -> type:
    """The class (made once, on the local backend loaded by name: nothing here imports a backend)."""
    global _CLASS
    if _CLASS is None:
        from ..engines.registry import backend_class
        _CLASS = type("SubprocCluster", (_ForegroundLaunch, backend_class("local")),
                      {"__module__": __name__, "__doc__": _ForegroundLaunch.__doc__})
    return _CLASS


def subproc_cluster(stdout_mode: str = "print", stderr_mode: str = "print", log_dir: Optional[str] = None,
                    **kwargs: Any) -> Any:
    """``Cluster.new('subproc', stdout_mode=..., ...)``: a ``SubprocCluster``."""
    return subproc_cluster_class()(stdout_mode=stdout_mode, stderr_mode=stderr_mode, log_dir=log_dir, **kwargs)


class _ForegroundLaunch:
    """The local backend with the original subprocess backend's launch: output here, and ``launch``
    returns when every process has ended (the first failure stops the rest); the experiment is then
    deleted. ``stdout_mode``: 'print', 'file' (``<log_dir>/<name>.out``, ``group:name`` inside a
    group) or 'none'; ``stderr_mode``: 'stdout' or the same as ``stdout_mode``."""

    def __init__(self, stdout_mode: str = "print", stderr_mode: str = "print", log_dir: Optional[str] = None,
                 **kwargs: Any) -> None:
        stdout_mode = _mode("stdout_mode", stdout_mode, _STDOUT_MODES)
        stderr_mode = _mode("stderr_mode", stderr_mode, _STDERR_MODES)
        _checked_modes(stdout_mode, stderr_mode)
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self.stdout_mode, self.stderr_mode = stdout_mode, stderr_mode
        self.log_dir = _log_dir(stdout_mode, stderr_mode, log_dir)
        self.poll_interval = 0.2

    def launch(self, exp: Any, force: bool = False, dry_run: bool = False, verbose: bool = True) -> Any:
        plan = super().launch(exp, force=force, dry_run=dry_run)  # type: ignore[misc]
        if not dry_run:
            self.join(exp.name)
        return plan

    def _copy_output(self, experiment: str, key: str, target: Optional[IO[str]]) -> None:
        from ..engines.registry import backend_class
        reader = backend_class("local")()  # its own connection to the state (one per thread, as SQLite wants)
        try:
            for line in reader.get_log(experiment, key, follow=True):
                if target is not None:
                    target.write(line + "\n")
                    target.flush()
        except SymphonyError:
            pass  # the experiment was deleted meanwhile: its output ends here

    def join(self, experiment: str, kill_on_error: bool = True) -> Dict[str, Optional[int]]:
        """Copy the output of ``experiment``'s processes until they have all ended; print how each
        ended; with ``kill_on_error`` the first failure stops the others. Deletes the experiment."""
        statuses = self.describe_experiment(experiment)  # type: ignore[attr-defined]
        files, threads = [], []
        for status in statuses:
            target: Optional[IO[str]] = None
            if self.stdout_mode == "print":
                target = sys.stdout
            elif self.stdout_mode == "file":
                name = f"{status.group}:{status.name}" if status.group else status.name
                target = open(os.path.join(str(self.log_dir), name + ".out"), "w")
                files.append(target)
            thread = threading.Thread(target=self._copy_output, args=(experiment, status.key, target), daemon=True)
            thread.start()
            threads.append(thread)
        ended: Dict[str, Optional[int]] = {}
        try:
            while len(ended) < len(statuses):
                for status in self.describe_experiment(experiment):  # type: ignore[attr-defined]
                    if status.key in ended or status.state not in _DONE_STATES:
                        continue
                    code = status.exit_code if status.state is ProcessState.EXITED else -1
                    ended[status.key] = code
                    if code == 0:
                        print(f'PROCESS "{status.key}" DONE', flush=True)
                        continue
                    how = f"ERROR CODE {code}" if status.state is ProcessState.EXITED else (status.signal or status.state)
                    print(f'PROCESS "{status.key}" TERMINATED WITH {how}', flush=True)
                    if kill_on_error:
                        print("KILLING ALL REMAINING PROCESSES ...", flush=True)
                        ended.update({s.key: None for s in statuses if s.key not in ended})
                        break
                if len(ended) < len(statuses):
                    time.sleep(self.poll_interval)
        finally:  # also on Ctrl-C: nothing of the experiment outlives the script, as with the original
            for thread in threads:
                thread.join(timeout=5 if len(ended) == len(statuses) else 0)
            self.delete(experiment)  # type: ignore[attr-defined]
            for stream in files:
                stream.close()
        return ended
