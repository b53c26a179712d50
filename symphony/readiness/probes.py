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
import struct
import subprocess
import time
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence, Set

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


#: where this machine's kernel lists its TCP sockets (state ``0A``: listening), when netlink cannot say
_PROC_NET_TCP = ("/proc/net/tcp", "/proc/net/tcp6")
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _NLMSG_ERROR, _NLMSG_DONE = 4, 20, 2, 3
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_TCP_LISTEN = 10
#: how often a process of this machine held for a service looks at its default check: a look is one
#: question to the kernel (tens of microseconds) and touches no server, so the held process starts
#: within a tenth of a second of the server's listen() rather than within the check's interval
HELD_LOOK_INTERVAL = 0.1


def listening_ports() -> Optional[Set[int]]:
    """The ports a TCP socket listens on here (any address, IPv4 or IPv6); None where the kernel does
    not say (then only a connection can tell).

    Asked of the kernel's socket diagnostics (netlink ``sock_diag``, as ``ss -lt`` does), for listening
    sockets only: the kernel then walks its table of listening sockets alone, tens of microseconds
    however many connections the machine has, where generating ``/proc/net/tcp`` (the fallback) walks
    every connection and takes milliseconds on a busy machine."""
    try:
        return _listening_by_netlink()
    except (OSError, ValueError, struct.error):
        pass
    ports: Set[int] = set()
    found = False
    for path in _PROC_NET_TCP:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        found = True
        for line in data.split(b"\n")[1:]:
            fields = line.split(None, 4)
            if len(fields) > 3 and fields[3] == b"0A":
                ports.add(int(fields[1].rsplit(b":", 1)[1], 16))
    return ports if found else None


def _listening_by_netlink() -> Set[int]:
    ports: Set[int] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(1.0)
        for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            # inet_diag_req_v2: family, protocol, extensions, pad, states; then a zeroed inet_diag_sockid
            request = struct.pack("=BBBBI48x", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
            sock.send(struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP,
                                  sequence, 0) + request)
            done = False
            while not done:
                data = sock.recv(65536)
                offset = 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if length < 16:
                        raise ValueError("a malformed netlink answer")
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        raise OSError(-struct.unpack_from("=i", data, offset + 16)[0], "sock_diag refused")
                    # inet_diag_msg: family, state, timer, retrans, then the socket id, source port first
                    state = data[offset + 17]
                    if state == _TCP_LISTEN:
                        ports.add(struct.unpack_from("!H", data, offset + 20)[0])
                    offset += (length + 3) & ~3
                if not data:
                    break
    return ports


def probe_listening(check: "ResolvedCheck", ports: Optional[Set[int]] = None) -> ProbeResult:
    """Ready when a socket listens on the check's port on this machine: what a default check (the port
    accepts a connection) means for a process of this machine, found without connecting to it, so a
    server that serves or counts its connections never sees one. ``ports``: :func:`listening_ports`,
    read once for many checks. Where the kernel lists no sockets, a connection is tried instead."""
    begun = time.monotonic()
    ports = listening_ports() if ports is None else ports
    if ports is None:
        return probe_tcp(check.host, check.port, check.timeout)
    if check.port in ports:
        return ProbeResult(True, "listening", time.monotonic() - begun)
    return ProbeResult(False, f"nothing listens on port {check.port}", time.monotonic() - begun)


def looks_at_listening(check: "ResolvedCheck") -> bool:
    """Whether :func:`probe_on_this_host` answers ``check`` from the listening sockets (no connection)."""
    return check.kind == "command" or (check.kind == "tcp" and not check.declared)


def probe_on_this_host(check: "ResolvedCheck", ports: Optional[Set[int]] = None) -> ProbeResult:
    """What a process of this machine (a tmux window's wait, ``symphony p``) can see of a service of
    another process of this machine: a default check, or a command check (which runs in its provider's
    environment), is a socket listening on its port (:func:`probe_listening`); a declared TCP or HTTP
    check is made as declared."""
    if looks_at_listening(check):
        return probe_listening(check, ports)
    return probe(check)
