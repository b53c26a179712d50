"""``symphony logs`` on Kubernetes: wait for the container to start, and with ``-f`` follow it
across restarts.

The API serves the log of one container *instance*: the running one, else the last one
that ended (``previous=true``: the one before that). A followed log ends when that instance
ends; if the pod's restart policy starts the container again, the next instance's log
starts empty. :class:`LogFollower` therefore reads every line with the node's timestamp
(``timestamps=true``), prints each line once in timestamp order, and after a stream ends
looks at the pod: while the container will run again it waits for the next instance and
reads it (the instance before it first, if that one was never read to its end, so a short
run in between is not lost); a stream cut mid-way is read again from the start and what was
printed already is skipped. It ends when the container has ended for good (the pod
succeeded or failed, or the restart policy will not start it again) or the pod is gone.
"""

import datetime
import math
import re
import sys
import time

from ..errors import BackendUnavailableError, SymphonyError

#: Waiting reasons after which a container that never ran will not start by itself.
CANNOT_START = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                "CreateContainerConfigError", "CreateContainerError", "RunContainerError")

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def log_time(stamp):
    """Nanoseconds since the epoch of an RFC3339(Nano) timestamp as the kubelet writes it
    (trailing zeros of the fraction trimmed, so the text does not sort); None if not one."""
    match = _STAMP.match(stamp)
    if match is None:
        return None
    zone = "+00:00" if match[3] == "Z" else match[3]
    seconds = int(datetime.datetime.fromisoformat(match[1] + zone).timestamp())
    return seconds * 10**9 + int((match[2] or "").ljust(9, "0"))


class LogCursor:
    """What has been printed: the latest timestamp and how many lines carried it.

    Streams are read in timestamp order; in each, a line older than the latest is skipped,
    and of the lines with exactly the latest stamp the first ``count`` are (those were printed).
    """

    def __init__(self):
        self.last = None
        self.count = 0
        self._seen = 0

    @property
    def empty(self):
        return self.last is None

    def begin(self):
        """A new stream starts."""
        self._seen = 0

    def admit(self, stamp):
        """Whether a line stamped ``stamp`` (nanoseconds, or None: unknown) is new; records it."""
        if stamp is None:
            return True
        if self.last is None or stamp > self.last:
            self.last, self.count, self._seen = stamp, 1, 1
            return True
        if stamp < self.last:
            return False
        self._seen += 1
        if self._seen > self.count:
            self.count += 1
            return True
        return False


class LogFollower:
    """The lines of one container's log (``follow``: across its restarts, until it ends for good).

    ``cluster`` is the :class:`~symphony.kube.cluster.KubeCluster` (its ``_call``, ``core``,
    ``timeout`` and ``poll_interval``); ``key`` names the process in messages.
    """

    #: seconds of waiting for the container to start before saying so (on a terminal's stderr)
    notice_after = 1.0

    def __init__(self, cluster, namespace, pod, container, key, follow=False, since=None, tail=None):
        self.cluster, self.namespace, self.pod, self.container, self.key = cluster, namespace, pod, container, key
        self.follow, self.since, self.tail = bool(follow), since, tail

    # --- the API --------------------------------------------------------------------
    def _read_pod(self):
        """The pod, or None once it (or its namespace) is gone."""
        from .cluster import KubeApiError
        try:
            return self.cluster._call(f"read the pod of {self.key!r}", self.cluster.core.read_namespaced_pod,
                                      self.pod, self.namespace)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _status(self, pod):
        for status in (pod.status.container_statuses or []) if pod.status else []:
            if status.name == self.container:
                return status
        return None

    def _request(self, **options):
        return self.cluster._call(f"read the log of {self.key!r}", self.cluster.core.read_namespaced_pod_log,
                                  self.pod, self.namespace, container=self.container, _preload_content=False,
                                  **options)

    def _user_limits(self, elapsed=0.0):
        """``--since`` and ``--tail`` as API options (``elapsed``: seconds since the first request)."""
        options = {}
        if self.since is not None:
            options["since_seconds"] = max(1, math.ceil(self.since + elapsed))
        if self.tail is not None and self.tail >= 0:
            options["tail_lines"] = int(self.tail)
        return options

    # --- reading --------------------------------------------------------------------
    def lines(self):
        """Yield the log's lines (without newline)."""
        from urllib3.exceptions import HTTPError
        pod, status = self._wait_until_started()
        if self.follow:
            yield from self._follow(pod, status)
            return
        try:
            yield from _lines(self._request(follow=False, **self._user_limits()))
        except HTTPError as exc:
            raise BackendUnavailableError(f"the connection to the Kubernetes API server broke while reading "
                                          f"the log of {self.key!r}: {exc}") from None

    def _wait_until_started(self):
        """(pod, container status) once the container has run (so it has a log); a one-line error
        if it cannot start, or has not started within the cluster's ``timeout``."""
        from .cluster import _pod_failure, _unschedulable
        started = time.monotonic()
        deadline = started + self.cluster.timeout
        told = False
        while True:
            pod = self._read_pod()
            if pod is None:
                raise SymphonyError(f"cannot read the log of {self.key!r}: its pod is gone "
                                    f"(`symphony ls` lists the experiments)")
            status = self._status(pod)
            if status is not None and _served(status) is not None:
                return pod, status
            failure = _pod_failure(pod)
            if failure is not None:
                raise SymphonyError(f"cannot read the log of {self.key!r}: it will not start ({failure})")
            waiting = status.state.waiting if status is not None and status.state is not None else None
            if waiting is not None and waiting.reason in CANNOT_START:
                detail = f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
                raise SymphonyError(f"cannot read the log of {self.key!r}: its container cannot start ({detail})")
            why = (waiting.reason if waiting is not None else None) or _unschedulable(pod) or "Pending"
            now = time.monotonic()
            if now >= deadline:
                raise SymphonyError(f"cannot read the log of {self.key!r}: it has not started after "
                                    f"{self.cluster.timeout:.0f}s ({why}); `symphony p` shows its state")
            if not told and now - started >= self.notice_after:
                _notice(f"waiting for {self.key!r} to start ({why})...")
                told = True
            time.sleep(self.cluster.poll_interval)

    def _follow(self, pod, status):
        """Follow the container's instances one after the other until it ends for good."""
        cursor = LogCursor()
        complete = set()  # instances read to their end, after they ended
        first_instance, first_request = _served(status), None
        reads, last_pass = [(first_instance, False)], False
        while True:
            clean, printed = True, (cursor.last, cursor.count)
            for instance, previous in reads:
                # --since/--tail bound the first instance until a line of it is printed (a cut
                # stream read again); every later instance is new output, read whole
                limits = {}
                if first_request is None:
                    limits, first_request = self._user_limits(), time.monotonic()
                elif cursor.empty and instance == first_instance:
                    limits = self._user_limits(time.monotonic() - first_request)
                ended = previous or instance != _running(status)
                clean = yield from self._stream(cursor, previous=previous, **limits)
                if clean and ended:
                    complete.add(instance)
            if last_pass:
                return
            read_last, read_clean = reads[-1][0], clean
            while True:
                pod = self._read_pod()
                status = self._status(pod) if pod is not None else None
                if status is None:
                    return  # the pod (or the whole experiment) was deleted
                if read_clean and read_last != _running(status) and read_last in (_current(status), _previous(status)):
                    complete.add(read_last)  # it was running while followed, and ended with the stream
                reads = self._next_reads(status, complete)
                finished = _finished(pod, status)
                if reads or finished:
                    break
                time.sleep(self.cluster.poll_interval)  # waiting to be started again
            if not reads:
                return
            last_pass = finished  # what is left of a container that has ended for good, once
            if not clean or printed == (cursor.last, cursor.count):
                time.sleep(self.cluster.poll_interval)  # cut, refused or empty: not again at once

    @staticmethod
    def _next_reads(status, complete):
        """(instance, previous) to read: the one before the current one, then the current one,
        each unless already read to its end."""
        reads = []
        previous = _previous(status)
        if previous is not None and previous not in complete:
            reads.append((previous, True))
        current = _current(status)
        if current is not None and current not in complete:
            reads.append((current, False))
        return reads

    def _stream(self, cursor, previous=False, **limits):
        """Yield the new lines of one request; return True if it ended cleanly (not cut or refused)."""
        from .cluster import KubeApiError
        from urllib3.exceptions import HTTPError
        try:
            response = self._request(follow=not previous, previous=previous, timestamps=True, **limits)
        except KubeApiError as exc:
            if exc.status in (400, 404):  # not running after all, or gone: the pod says what next
                return False
            raise
        cursor.begin()
        try:
            for line in _lines(response):
                stamp, _, text = line.partition(" ")
                at = log_time(stamp)
                if cursor.admit(at):
                    yield text if at is not None else line
        except HTTPError:  # cut mid-way: read again later, skipping what was printed
            return False
        return True


# --- the container's state --------------------------------------------------------------
def _running(status):
    """The ID of the running instance, or None."""
    if status.state is None or status.state.running is None:
        return None
    return status.container_id or f"running-{status.restart_count}"


def _current(status):
    """The ID of the instance that runs or has just ended (None while the next one is awaited)."""
    state = status.state
    if state is not None and state.terminated is not None:
        return state.terminated.container_id or None
    return _running(status)


def _previous(status):
    last = status.last_state.terminated if status.last_state is not None else None
    return last.container_id if last is not None and last.container_id else None


def _served(status):
    """The instance whose log the API serves now (the kubelet's rule), or None: nothing ran yet."""
    return _current(status) or _previous(status)


def _finished(pod, status):
    """Whether the container has ended for good: its pod ended or is being deleted, or the restart
    policy will not start it again."""
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return True
    state = status.state
    if state is None or state.running is not None:
        return False
    if pod.metadata.deletion_timestamp is not None:
        return True
    if state.terminated is None:
        return False  # waiting: it will be started again
    policy = (pod.spec.restart_policy if pod.spec is not None else None) or "Always"
    return policy == "Never" or (policy == "OnFailure" and state.terminated.exit_code == 0)


def _notice(message):
    """Say ``message`` on stderr when a person is watching it (never into a pipe or a file)."""
    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    if stream is not None and isatty is not None and isatty():
        print(message, file=stream, flush=True)


def _lines(response):
    """Yield the decoded lines (without newline) of a streamed log response; a cut raises
    urllib3's ``HTTPError`` (a line cut short is not yielded: it comes again whole)."""
    pending = b""
    finished = False
    try:
        for chunk in response.stream(8192, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
        finished = True
        if pending:
            yield pending.decode(errors="replace")
    finally:
        if not finished:
            response.close()  # a connection with unread data must not go back to the pool
        response.release_conn()
