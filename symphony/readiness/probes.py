"""Running one readiness check: a TCP connect, an HTTP GET, or a command.

Each probe makes one attempt, bounded by its timeout, and answers with a
:class:`ProbeResult` whose ``detail`` is one short line for ``symphony p`` and the
logs (``connection refused``, ``HTTP 503``, ``exit 1: no model loaded yet``). They
are cheap enough for a supervisor to run every second for hundreds of services: the
TCP and HTTP probes are a socket each (no HTTP library is loaded), and only a command
check starts a process, never through a shell unless it was declared with
``shell=True`` (its argv then names the shell).
"""

import errno
import os
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence

if TYPE_CHECKING:
    from ..resolution.resolved import ResolvedCheck

#: how much of an HTTP answer is read: its status line is all a check needs
_STATUS_LINE_MAX = 1024
#: how much of a failing command's output is kept, for its last line
_OUTPUT_MAX = 4096


class ProbeResult(NamedTuple):
    ok: bool
    detail: str       # one line: why it failed, or what answered ("HTTP 200")
    elapsed: float    # seconds the attempt took


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def probe_tcp(host: str, port: int, timeout: float) -> ProbeResult:
    """Ready when ``host:port`` accepts a TCP connection within ``timeout`` seconds."""
    begun = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        return ProbeResult(False, f"{host}:{port}: {_reason(exc)}", time.monotonic() - begun)
    return ProbeResult(True, "accepts connections", time.monotonic() - begun)


def probe_http(host: str, port: int, path: str, timeout: float) -> ProbeResult:
    """Ready when ``GET path`` answers with a 2xx or 3xx status within ``timeout`` seconds
    (redirects are not followed: a 3xx answer already shows a serving server)."""
    begun = time.monotonic()
    deadline = begun + timeout
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: symphony-readiness\r\n"
               f"Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1", "replace")
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            answer = b""
            while b"\r\n" not in answer and len(answer) < _STATUS_LINE_MAX:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = sock.recv(_STATUS_LINE_MAX)
                if not chunk:
                    break
                answer += chunk
    except (OSError, ValueError) as exc:
        return ProbeResult(False, f"GET {path}: {_reason(exc)}", time.monotonic() - begun)
    elapsed = time.monotonic() - begun
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeResult(False, f"GET {path}: not an HTTP answer: {status_line[:60]!r}", elapsed)
    status = int(parts[1])
    return ProbeResult(200 <= status < 400, f"GET {path}: HTTP {status}", elapsed)


def probe_command(argv: Sequence[str], timeout: float, env: Optional[Mapping[str, str]] = None,
                  cwd: Optional[str] = None) -> ProbeResult:
    """Ready when ``argv`` exits 0 within ``timeout`` seconds; on the timeout, the command and
    everything it started are killed (it runs in a session of its own)."""
    begun = time.monotonic()
    try:
        child = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=dict(env) if env is not None else None, cwd=cwd,
                                 start_new_session=True)
    except OSError as exc:
        return ProbeResult(False, f"{argv[0]}: {_reason(exc)}", time.monotonic() - begun)
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(child)
        return ProbeResult(False, f"{argv[0]}: timed out after {timeout:g}s", time.monotonic() - begun)
    elapsed = time.monotonic() - begun
    if child.returncode == 0:
        return ProbeResult(True, "exit 0", elapsed)
    code = child.returncode
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    lines = output[-_OUTPUT_MAX:].decode("utf-8", "replace").strip().splitlines()
    return ProbeResult(False, f"{how}: {lines[-1][:200]}" if lines else how, elapsed)


def _kill_session(child: "subprocess.Popen[bytes]") -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            child.kill()
    child.communicate()


def probe(check: "ResolvedCheck", env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
          host: Optional[str] = None) -> ProbeResult:
    """One attempt of a resolved check. ``host`` replaces the check's own (a checker beside the
    process, such as a supervisor probing a container it published); ``env`` and ``cwd`` are the
    binding process's, for a command check."""
    if check.kind == "tcp":
        return probe_tcp(host or check.host, check.port, check.timeout)
    if check.kind == "http":
        return probe_http(host or check.host, check.port, check.path or "/", check.timeout)
    if check.kind == "command":
        return probe_command(check.argv, check.timeout, env=env, cwd=cwd)
    raise ValueError(f"unknown readiness check kind {check.kind!r}")


def probe_from_outside(check: "ResolvedCheck", host: Optional[str] = None) -> ProbeResult:
    """What a process that waits can see of another's service: a command check runs in its
    provider's environment, so from elsewhere the service's port accepting a connection stands in."""
    if check.kind == "command":
        return probe_tcp(host or check.host, check.port, check.timeout)
    return probe(check, host=host)
