"""What ``symphony p`` shows of a process, in the same types on every backend."""

from __future__ import annotations

import enum
import time

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing, not needed to run `symphony p`)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence


class ProcessState(str, enum.Enum):
    """The state of one process, as every backend reports it.

    A ``str`` enum: it compares equal to its value and prints as it, so ``-o json`` and
    stored rows carry the plain word.
    """

    PENDING = "pending"          # accepted, not started yet (a pod being scheduled, a job queued)
    WAITING = "waiting"          # held before starting (an image being pulled, a start condition)
    RUNNING = "running"
    RESTARTING = "restarting"    # ended and about to be started again by its restart policy
    EXITED = "exited"            # ended by itself, with an exit code
    KILLED = "killed"            # ended by a signal
    FAILED = "failed"            # the engine gave up on it (evicted, image never pulled)
    LOST = "lost"                # its end could not be observed
    TERMINATED = "terminated"    # being stopped by delete

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]

    @property
    def finished(self) -> bool:
        """Ended for good (no restart coming)."""
        return self in FINAL_STATES

    @property
    def ended(self) -> bool:
        """Has an end time worth showing: finished, or ended and about to restart."""
        return self in FINAL_STATES or self is ProcessState.RESTARTING


#: states after which a process runs no more
FINAL_STATES = frozenset((ProcessState.EXITED, ProcessState.KILLED, ProcessState.LOST))


class ProcessStatus:
    """What ``symphony p`` shows for one process, on any backend.

    A plain class rather than a dataclass: ``symphony p`` starts faster without the
    ``dataclasses`` machinery (and ``inspect``) on its path.
    """

    #: the fields, in order (equality and repr compare and show them all)
    _FIELDS = ("key", "group", "name", "state", "ready", "restarts", "exit_code", "signal", "started",
               "finished", "pid", "detail", "extra", "checked", "not_ready", "readiness_failures", "waiting_for")
    __slots__ = tuple("_state" if field == "state" else field for field in _FIELDS)

    def __init__(self, key: str, group: str, name: str, state: "ProcessState | str", ready: bool = False,
                 restarts: int = 0, exit_code: Optional[int] = None, signal: Optional[str] = None,
                 started: Optional[float] = None, finished: Optional[float] = None, pid: Optional[int] = None,
                 detail: str = "", extra: Optional[Dict[str, Any]] = None, checked: bool = False,
                 not_ready: Sequence[str] = (), readiness_failures: int = 0,
                 waiting_for: Sequence[str] = ()) -> None:
        self.key, self.group, self.name = key, group, name
        self.state = state  # (a backend's plain word is checked here, and whenever it is set)
        self.ready, self.restarts, self.exit_code, self.signal = ready, restarts, exit_code, signal
        self.started, self.finished, self.pid, self.detail = started, finished, pid, detail
        self.extra = {} if extra is None else extra
        #: ``ready`` comes from readiness checks of the services it provides (not just "it runs")
        self.checked = checked
        #: its services whose check fails now, and how many checks failed after they were first ready
        self.not_ready, self.readiness_failures = list(not_ready), readiness_failures
        #: the services it is held for (state WAITING, detail ``replay (not ready 12s)``)
        self.waiting_for = list(waiting_for)

    @classmethod
    def held(cls, key: str, group: str, name: str, waiting_for: Sequence[str], not_ready_for: float,
             **fields: Any) -> "ProcessStatus":
        """A process held until services are ready: ``waiting: replay (not ready 12s)``."""
        detail = f"{', '.join(waiting_for)} (not ready {format_age(not_ready_for)})"
        return cls(key, group, name, ProcessState.WAITING, detail=detail, waiting_for=waiting_for, **fields)

    @property
    def state(self) -> ProcessState:
        return self._state

    @state.setter
    def state(self, value: ProcessState | str) -> None:
        # a property rather than a __setattr__ hook, which cost every field of every status a call
        self._state = value if type(value) is ProcessState else ProcessState(value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessStatus):
            return NotImplemented
        return all(getattr(self, field) == getattr(other, field) for field in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{field}={getattr(self, field)!r}" for field in self._FIELDS)
        return f"ProcessStatus({fields})"

    def state_text(self, now: Optional[float] = None) -> str:
        """``running: 23.2h``, ``exited (1): 5m``, ``killed (SIGKILL): 3s``, ``waiting: ImagePullBackOff``,
        ``restarting (exit 1): 2s`` (how the last run ended, and since when)."""
        now = now or time.time()
        if self.state is ProcessState.EXITED and self.exit_code is not None:
            head = f"exited ({self.exit_code})"
        elif self.state is ProcessState.KILLED and self.signal:
            head = f"killed ({self.signal})"
        elif self.state is ProcessState.RESTARTING and (self.exit_code is not None or self.signal):
            head = f"restarting ({self.signal or f'exit {self.exit_code}'})"
        else:
            head = self.state.value
        if self.detail:
            head = f"{head}: {self.detail}"
        ended = self.state.ended and self.finished
        since = self.finished if ended else self.started
        return f"{head}: {format_age(now - since)}" if since else head

    def to_dict(self) -> Dict[str, Any]:
        """``-o json``'s object: today's keys, plus the readiness ones only where checks stand behind
        them (``checked``) or the process is held, so scripts reading the older form see no change."""
        data: Dict[str, Any] = {
            "group": self.group, "name": self.name, "key": self.key, "state": self.state.value, "ready": self.ready,
            "restarts": self.restarts, "exit_code": self.exit_code, "signal": self.signal, "started": self.started,
            "finished": self.finished, "pid": self.pid, "detail": self.detail}
        if self.checked or self.waiting_for:
            data.update(checked=self.checked, not_ready=list(self.not_ready),
                        readiness_failures=self.readiness_failures, waiting_for=list(self.waiting_for))
        return data


def format_age(seconds: float) -> str:
    """Short human age as kubectl prints it: 42s, 5m, 2.3h, 4.1d."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"




def processes_document(experiment: str, backend: str, statuses: Sequence[ProcessStatus]) -> Dict[str, Any]:
    """``symphony p EXPERIMENT -o json``: the experiment, its backend and each process's status.

    Built here, once, for the command and for the dashboard (whose API is this document), so
    a script and the page never disagree."""
    processes = [{**status.to_dict(), "state_text": status.state_text()} for status in statuses]
    return {"experiment": experiment, "backend": backend, "processes": processes}
