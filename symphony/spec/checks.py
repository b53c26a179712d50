"""Readiness checks and start order as the model declares them.

A process that binds a service is *ready* for it when its check passes: by default
when the service's port accepts a TCP connection (a server that has not called
``listen`` yet is not serving, even though its process runs). ``tcp()``, ``http(path)``
and ``command(argv)`` declare another check, with how often it runs, how long one
attempt may take and how many failures in a row make a ready service not ready again.

A connection may *wait*: the connecting process is held until every service it waits
for is ready, or until its deadline, after which it either starts anyway
(``on_timeout='start'``) or is not started at all (``'fail'``). Processes that wait
for each other in a ring could never start, so such a cycle is refused with the ring
named (:func:`waiting_cycle`).

Only plain values live here, checked when declared: which host and port a check
reaches is decided by :func:`symphony.resolution.resolve`, and running them is
:mod:`symphony.readiness`'s job, so the model stays free of sockets and subprocesses.
"""

import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import SpecError
from .brief import brief

#: the kinds of check, as written in files (``{http: /healthz}``) and in ``symphony p -o json``
CHECK_KINDS = ("tcp", "http", "command")
#: the options every check takes besides its kind
CHECK_OPTIONS = ("interval", "timeout", "failure_threshold")
#: one attempt per second finds a server ready within a second of its listening, for the cost
#: of one connect() per service and second
DEFAULT_INTERVAL = 1.0
#: an attempt that takes longer than a second on a live experiment's network means "not ready"
DEFAULT_TIMEOUT = 1.0
#: a ready service turns not ready after three failures in a row, not one (a slow reply under load)
DEFAULT_FAILURE_THRESHOLD = 3
#: what happens when a waiting process's deadline passes
ON_TIMEOUT = ("fail", "start")
#: long enough for a server that loads a model or a replay buffer, short enough to notice a dead one
DEFAULT_WAIT_TIMEOUT = 300.0
DEFAULT_ON_TIMEOUT = "fail"
#: ``exp.start_order(...)``: only connections declared with ``wait=True`` wait, or every connection
START_ORDERS = ("declared", "services")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def seconds(what: str, value: object, *, maximum: float = 86400.0) -> float:
    """A positive duration: a number of seconds or a string such as ``'90s'``, ``'5m'``, ``'500ms'``."""
    number: Optional[float] = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number = float(match.group(1)) * _UNITS[match.group(2)]
    if number is None or not math.isfinite(number):
        raise SpecError(f"{what} must be a number of seconds or a duration such as '30s' or '5m', got {brief(value)}")
    if not 0 < number <= maximum:
        raise SpecError(f"{what} must be more than 0 and at most {maximum:g} seconds, got {brief(value)}")
    return number


def _threshold(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise SpecError(f"{what} must be a whole number from 1 to 1000, got {brief(value)}")
    return value


class ReadinessCheck:
    """How to tell that a bound service is ready: a kind and its timing. Immutable.

    ``kind`` is ``'tcp'`` (the port accepts a connection), ``'http'`` (``GET path``
    answers 2xx or 3xx) or ``'command'`` (``argv`` exits 0, run in the binding
    process's environment; through a shell only with ``shell=True``).
    """

    __slots__ = ("kind", "path", "argv", "shell", "interval", "timeout", "failure_threshold")
    kind: str
    path: Optional[str]
    argv: Tuple[str, ...]
    shell: bool
    interval: float
    timeout: float
    failure_threshold: int

    def __init__(self, kind: str, *, path: Optional[str] = None, argv: Sequence[str] = (), shell: bool = False,
                 interval: object = DEFAULT_INTERVAL, timeout: object = DEFAULT_TIMEOUT,
                 failure_threshold: object = DEFAULT_FAILURE_THRESHOLD) -> None:
        if kind not in CHECK_KINDS:
            raise SpecError(f"unknown readiness check {brief(kind)}: use tcp(), http('/path') or command([...])")
        values = dict(kind=kind, path=path, argv=tuple(argv), shell=shell,
                      interval=seconds(f"{kind}() interval", interval, maximum=3600.0),
                      timeout=seconds(f"{kind}() timeout", timeout, maximum=3600.0),
                      failure_threshold=_threshold(f"{kind}() failure_threshold", failure_threshold))
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a readiness check cannot be changed: declare a new one ({name})")

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReadinessCheck) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __deepcopy__(self, memo: Dict[int, Any]) -> "ReadinessCheck":
        return self  # immutable

    def __copy__(self) -> "ReadinessCheck":
        return self

    def __reduce__(self) -> Tuple[Any, ...]:
        return (check_from_data, (self.to_data(),))

    def __repr__(self) -> str:
        if self.kind == "http":
            head = f"http({self.path!r}"
        elif self.kind == "command":
            head = f"command({list(self.argv)[0] if self.shell else list(self.argv)!r}" + (", shell=True" if self.shell else "")
        else:
            head = "tcp("
        options = [f"{name}={getattr(self, name)!r}" for name, default in _DEFAULTS.items()
                   if getattr(self, name) != default]
        return head + (", " if options and head[-1] != "(" else "") + ", ".join(options) + ")"

    def to_data(self) -> Union[str, Dict[str, Any]]:
        """The file form: ``'tcp'``, ``{http: /healthz}``, ``{command: [python, check.py], interval: 5}``."""
        data: Dict[str, Any]
        if self.kind == "tcp":
            data = {"tcp": True}
        elif self.kind == "http":
            data = {"http": self.path}
        else:
            data = {"command": self.argv[0] if self.shell else list(self.argv)}
            if self.shell:
                data["shell"] = True
        data.update({name: _number(getattr(self, name)) for name, default in _DEFAULTS.items()
                     if getattr(self, name) != default})
        return "tcp" if data == {"tcp": True} else data


def _number(value: float) -> Union[int, float]:
    """2.0 written as 2, as a person writes it in a file."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


_DEFAULTS: Dict[str, Any] = {"interval": DEFAULT_INTERVAL, "timeout": DEFAULT_TIMEOUT,
                             "failure_threshold": DEFAULT_FAILURE_THRESHOLD}


def tcp(*, interval: Union[float, str] = DEFAULT_INTERVAL, timeout: Union[float, str] = DEFAULT_TIMEOUT,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD) -> ReadinessCheck:
    """Ready when the service's port accepts a TCP connection (the default check of every bound service)."""
    return ReadinessCheck("tcp", interval=interval, timeout=timeout, failure_threshold=failure_threshold)


def http(path: str = "/", *, interval: Union[float, str] = DEFAULT_INTERVAL,
         timeout: Union[float, str] = DEFAULT_TIMEOUT, failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
         ) -> ReadinessCheck:
    """Ready when ``GET path`` on the service's port answers with a 2xx or 3xx status."""
    if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() or ord(c) < 32 for c in path):
        raise SpecError(f"http() takes the path to GET, starting with '/' and without spaces, e.g. "
                        f"http('/healthz'), got {brief(path)}")
    return ReadinessCheck("http", path=path, interval=interval, timeout=timeout, failure_threshold=failure_threshold)


def command(argv: Union[str, Sequence[str]], *, shell: bool = False, interval: Union[float, str] = DEFAULT_INTERVAL,
            timeout: Union[float, str] = DEFAULT_TIMEOUT, failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
            ) -> ReadinessCheck:
    """Ready when ``argv`` exits 0, run in the binding process's environment; ``shell=True`` runs one
    shell line instead (``command('curl -fs localhost:$SYMPH_WEB_PORT', shell=True)``)."""
    if not isinstance(shell, bool):
        raise SpecError(f"command() shell= must be True or False, got {brief(shell)}")
    if shell:
        if not isinstance(argv, str) or not argv.strip() or "\0" in argv:
            raise SpecError(f"command(..., shell=True) takes one shell line, e.g. command('test -f ready', "
                            f"shell=True), got {brief(argv)}")
        args: List[str] = [argv]
    else:
        if isinstance(argv, str):
            raise SpecError(f"command() takes the program and its arguments as a list, e.g. "
                            f"command(['python', 'check.py']), got {brief(argv)}: or give shell=True to run "
                            f"it as a shell line")
        if (not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv)
                or not argv[0] or any("\0" in a for a in argv)):
            raise SpecError(f"command() takes a non-empty list of strings, e.g. command(['python', 'check.py']), "
                            f"got {brief(argv)}")
        args = list(argv)
    return ReadinessCheck("command", argv=args, shell=shell, interval=interval, timeout=timeout,
                          failure_threshold=failure_threshold)


def as_check(value: object, what: str) -> ReadinessCheck:
    """A declared ``ready=``: a check, or the file form (``'tcp'``, ``{http: /healthz, interval: 2}``)."""
    if isinstance(value, ReadinessCheck):
        return value
    if isinstance(value, (str, dict)):
        return check_from_data(value, what)
    raise SpecError(f"{what}: ready= takes tcp(), http('/path') or command([...]) from symphony.readiness, "
                    f"got {brief(value)}")


def check_from_data(data: object, what: str = "readiness check") -> ReadinessCheck:
    """Read a check back from its file form (see :meth:`ReadinessCheck.to_data`)."""
    if data == "tcp":
        return tcp()
    if isinstance(data, str):
        raise SpecError(f"{what}: unknown readiness check {brief(data)}: write tcp, {{http: /path}} or "
                        f"{{command: [program, args...]}}")
    if not isinstance(data, dict):
        raise SpecError(f"{what}: a readiness check is tcp, {{http: /path}} or {{command: [...]}}, got {brief(data)}")
    kinds = [key for key in data if key in CHECK_KINDS]
    unknown = [key for key in data if key not in CHECK_KINDS and key not in CHECK_OPTIONS and key != "shell"]
    if unknown or len(kinds) != 1:
        raise SpecError(f"{what}: a readiness check has exactly one of tcp, http, command, and may have "
                        f"{', '.join(CHECK_OPTIONS)} (and shell, for command), got {brief(data)}")
    kind = kinds[0]
    options = {key: data[key] for key in CHECK_OPTIONS if key in data}
    if "shell" in data and kind != "command":
        raise SpecError(f"{what}: shell applies to a command check only, got {brief(data)}")
    if kind == "tcp":
        if data["tcp"] not in (True, None, {}):
            raise SpecError(f"{what}: write a TCP check as `tcp` or `tcp: true`, got {brief(data)}")
        return tcp(**options)
    if kind == "http":
        return http(data["http"], **options)
    return command(data["command"], shell=data.get("shell", False), **options)


class Wait:
    """One waiting connection: its own deadline and deadline behaviour, or None for the experiment's."""

    __slots__ = ("timeout", "on_timeout")
    timeout: Optional[float]
    on_timeout: Optional[str]

    def __init__(self, timeout: object = None, on_timeout: object = None, what: str = "connects()") -> None:
        object.__setattr__(self, "timeout", None if timeout is None else seconds(f"{what} wait_timeout", timeout))
        object.__setattr__(self, "on_timeout", None if on_timeout is None else one_on_timeout(what, on_timeout))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a wait cannot be changed: declare it again ({name})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Wait) and (self.timeout, self.on_timeout) == (other.timeout, other.on_timeout)

    def __hash__(self) -> int:
        return hash((self.timeout, self.on_timeout))

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Wait":
        return self

    def __copy__(self) -> "Wait":
        return self

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Wait, (self.timeout, self.on_timeout))

    def __repr__(self) -> str:
        return f"Wait(timeout={self.timeout!r}, on_timeout={self.on_timeout!r})"

    def to_data(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {}
        if self.timeout is not None:
            data["wait_timeout"] = _number(self.timeout)
        if self.on_timeout is not None:
            data["on_timeout"] = self.on_timeout
        return data


def one_on_timeout(what: str, value: object) -> str:
    if value not in ON_TIMEOUT:
        raise SpecError(f"{what}: on_timeout must be 'fail' (do not start the process) or 'start' (start it "
                        f"anyway), got {brief(value)}")
    return str(value)


def waits_from_data(data: object, what: str = "wait") -> Dict[str, Wait]:
    """``wait:`` of a file: a name, a list of names, or ``{name: {wait_timeout: 60, on_timeout: start}}``."""
    if isinstance(data, str):
        data = [data]
    if isinstance(data, list):
        if not all(isinstance(name, str) for name in data):
            raise SpecError(f"{what} takes a service name, a list of them or a mapping of them to "
                            f"{{wait_timeout, on_timeout}}, got {brief(data)}")
        return {name: Wait() for name in data}
    if not isinstance(data, dict):
        raise SpecError(f"{what} takes a service name, a list of them or a mapping of them to "
                        f"{{wait_timeout, on_timeout}}, got {brief(data)}")
    waits: Dict[str, Wait] = {}
    for name, options in data.items():
        options = {} if options is None else options
        if not isinstance(options, dict) or set(options) - {"wait_timeout", "on_timeout"}:
            raise SpecError(f"{what} {brief(name)}: takes wait_timeout and on_timeout, got {brief(options)}")
        waits[name] = Wait(options.get("wait_timeout"), options.get("on_timeout"), f"{what} {brief(name)}")
    return waits


def waits_to_data(waits: Mapping[str, Wait]) -> Union[List[str], Dict[str, Dict[str, Any]]]:
    """The shortest file form of ``waits``: a list of names when none has options of its own."""
    if all(not wait.to_data() for wait in waits.values()):
        return list(waits)
    return {name: wait.to_data() for name, wait in waits.items()}


def waiting_cycle(edges: Mapping[str, Iterable[str]]) -> Optional[List[str]]:
    """A cycle of ``process -> processes it waits for``, as ``[a, b, c, a]``, or None.

    Depth-first, in declaration order, so the same experiment always names the same ring.
    """
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if state.get(start):
            continue
        path: List[str] = [start]
        stack = [iter(edges.get(start, ()))]
        state[start] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return path[path.index(following):] + [following]
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(edges.get(following, ())))
    return None


class WaitingCycleError(SpecError):
    """Processes would wait for each other in a ring, so none of them could ever start."""
