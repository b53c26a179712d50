"""A small in-process stand-in for the Kubernetes API server (core/v1 only).

No real cluster can run where these tests run, so the backend's apply/query code is
exercised against this server instead: the real ``kubernetes`` client, real HTTP and
JSON, real ``ApiException``s; only the server side is simulated. It keeps the
semantics the backend relies on: 409 for an existing name, 404 for a missing one, a
deleted namespace stays ``Terminating`` for a few reads before it disappears with
everything in it, and a new namespace's default service account appears a few reads
after the namespace (the race real clusters have).

Containers (the kubelet's part) are driven by the test: ``container_waiting`` (being
created, or stuck pulling its image), ``start_container`` (a new instance: the one before
becomes ``lastState`` and ``restartCount`` grows), ``write_log``, ``exit_container``
(optionally then ``CrashLoopBackOff``). The pod's ``containerStatuses`` follow, and logs
are served as the kubelet serves them: per container instance, each line stamped with
the node's time (RFC3339Nano, trailing zeros trimmed) when ``timestamps=true``,
``previous=true`` for the instance before, a waiting container refused with the
kubelet's message, and ``follow=true`` streamed (chunked) until the instance ends, its
namespace is deleted, or ``drop_log_streams()`` cuts the connection mid-stream.
"""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PLURALS = {"secrets": "Secret", "services": "Service", "pods": "Pod", "serviceaccounts": "ServiceAccount"}


class _Server(ThreadingHTTPServer):
    #: listen backlog: the client opens up to ``workers`` (16) connections at once, and on a busy
    #: machine the default of 5 unaccepted connections overflows into connection resets
    request_queue_size = 128


class FakeApiServer:
    def __init__(self, terminating_reads=3, service_account_reads=2, post_delay=0.0):
        self.namespaces = {}
        self.objects = {}           # (namespace, plural) -> {name: object}
        self.instances = {}         # (namespace, pod, container) -> [container instance], oldest first
        self.requests = []          # (method, path, query, body) in arrival order
        self.fail = None            # fail(method, path, body) -> (status, message) or None
        self.terminating_reads = terminating_reads
        self.service_account_reads = service_account_reads
        self.post_delay = post_delay
        self.in_flight = self.max_in_flight = 0
        self._countdown = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a log grew, a container ended, streams dropped
        self._drops = 0
        self._closing = False
        self._last_ns = 0
        self._ids = itertools.count(1)
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path, name="fake", current=True):
        """Write a kubeconfig for this server at ``path`` (its cluster, user and context all named
        ``name``; ``current``: also its current context); return the path."""
        config = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"name": name, "cluster": {"server": self.url}}],
                  "users": [{"name": name, "user": {"token": f"{name}-token"}}],
                  "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}
        if current:
            config["current-context"] = name
        path.write_text(json.dumps(config))
        return str(path)

    def close(self):
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def created(self, kind=None):
        """Bodies of every successful create, in order (optionally of one kind)."""
        return [body for method, _, _, body, status in self.requests
                if method == "POST" and status == 201 and (kind is None or body["kind"] == kind)]

    def stored(self, namespace, plural):
        return self.objects.get((namespace, plural), {})

    def log_requests(self, pod=None):
        """Queries of every log request (of ``pod``), in order."""
        return [query for method, path, query, _, _ in self.requests
                if path.endswith("/log") and (pod is None or path.split("/")[-2] == pod)]

    # --- containers (the kubelet's side) ----------------------------------------------
    def container_waiting(self, namespace, pod, container, reason="ContainerCreating", message=None):
        """The container waits to start (no instance yet, or its next one): ``reason`` as the kubelet says."""
        with self._changed:
            waiting = {"reason": reason, **({"message": message} if message else {})}
            instances = self.instances.get((namespace, pod, container)) or []
            last = instances[-1] if instances else None
            self._set_status(namespace, pod, container, {"waiting": waiting}, last=last,
                             restarts=max(0, len(instances) - 1), container_id=last and last["id"])

    def start_container(self, namespace, pod, container):
        """A new instance of the container runs (the one before, if any, becomes ``lastState``)."""
        with self._changed:
            instances = self.instances.setdefault((namespace, pod, container), [])
            previous = instances[-1] if instances else None
            if previous is not None and previous["running"]:
                raise AssertionError(f"{container} is already running")
            instance = {"id": f"containerd://{next(self._ids):064x}", "lines": [], "running": True,
                        "started": self._now(), "exit": None}
            instances.append(instance)
            self._set_status(namespace, pod, container, {"running": {"startedAt": _rfc3339(instance["started"])}},
                             last=previous, restarts=len(instances) - 1, ready=True, container_id=instance["id"])
            self.objects[(namespace, "pods")][pod]["status"]["phase"] = "Running"
            self._changed.notify_all()

    def write_log(self, namespace, pod, container, text, same_time=False):
        """The running instance prints ``text``: each line stamped now (all with one stamp if ``same_time``)."""
        with self._changed:
            instance = self._current(namespace, pod, container)
            if not instance["running"]:
                raise AssertionError(f"{container} is not running")
            stamp = self._now()
            for line in text.splitlines(keepends=True):
                instance["lines"].append((stamp, line))
                if not same_time:
                    stamp = self._now()
            self._changed.notify_all()

    def exit_container(self, namespace, pod, container, exit_code=0, then=None):
        """The running instance ends with ``exit_code``; ``then='CrashLoopBackOff'``: the kubelet waits
        before starting it again (state waiting, the ended instance in ``lastState``)."""
        with self._changed:
            instance = self._current(namespace, pod, container)
            instances = self.instances[(namespace, pod, container)]
            instance["running"], instance["exit"], instance["finished"] = False, exit_code, self._now()
            earlier = instances[-2] if len(instances) > 1 else None
            if then:
                self._set_status(namespace, pod, container, {"waiting": {"reason": then}}, last=instance,
                                 restarts=len(instances) - 1, container_id=instance["id"])
            else:
                self._set_status(namespace, pod, container, self._terminated(instance), last=earlier,
                                 restarts=len(instances) - 1, container_id=instance["id"])
            self._changed.notify_all()

    def set_pod_phase(self, namespace, pod, phase, reason=None):
        with self._changed:
            status = self.objects[(namespace, "pods")][pod]["status"]
            status["phase"] = phase
            if reason:
                status["reason"] = reason

    def drop_log_streams(self):
        """Cut every log stream now being followed, mid-stream (no end of the chunked body)."""
        with self._changed:
            self._drops += 1
            self._changed.notify_all()

    def _current(self, namespace, pod, container):
        instances = self.instances.get((namespace, pod, container))
        if not instances:
            raise AssertionError(f"{container} was never started")
        return instances[-1]

    def _now(self):
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        return self._last_ns

    def _terminated(self, instance):
        reason = "Completed" if instance["exit"] == 0 else "Error"
        return {"terminated": {"exitCode": instance["exit"], "reason": reason,
                               "containerID": instance["id"], "startedAt": _rfc3339(instance["started"]),
                               "finishedAt": _rfc3339(instance["finished"])}}

    def _set_status(self, namespace, pod, container, state, last=None, restarts=0, ready=False, container_id=None):
        """The container's entry in the pod's ``containerStatuses`` (as the kubelet reports it: the
        running instance's ID only at the top level, ended ones also in their ``terminated``)."""
        status = self.objects[(namespace, "pods")][pod]["status"]
        statuses = [s for s in status.get("containerStatuses", []) if s["name"] != container]
        entry = {"name": container, "image": "fake", "imageID": "", "ready": ready, "restartCount": restarts,
                 "state": state, "lastState": self._terminated(last) if last is not None else {}}
        if container_id:
            entry["containerID"] = container_id
        status["containerStatuses"] = statuses + [entry]

    # --- request handling -------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _respond(self, status, payload, content_type="application/json"):
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if method == "POST" and server.post_delay:
                        time.sleep(server.post_delay)
                    status, payload = server._dispatch(method, url.path, query, body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                        server.requests.append((method, url.path, query, body, status))
                if isinstance(payload, LogStream):
                    self._stream(payload)
                elif isinstance(payload, str):
                    self._respond(status, payload, "text/plain")
                else:
                    self._respond(status, payload)

            def _stream(self, stream):
                """A followed log: chunked, until the stream ends (or is cut: no final chunk)."""
                self.protocol_version = "HTTP/1.1"  # chunked needs 1.1; the connection closes afterwards
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for data in stream.chunks():
                        if data is None:  # cut
                            return
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client went away
                    pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        return Handler

    def _dispatch(self, method, path, query, body):
        if self.fail is not None:
            refusal = self.fail(method, path, body)
            if refusal:
                return _status(*refusal)
        parts = path.strip("/").split("/")[2:]  # drop api/v1
        with self._lock:
            if parts == ["namespaces"]:
                if method == "POST":
                    return self._create_namespace(body)
                return 200, {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {},
                             "items": [ns for ns in self.namespaces.values() if _selected(ns, query)]}
            namespace = parts[1]
            if len(parts) == 2:
                return self._namespace(method, namespace)
            if namespace not in self.namespaces:
                return _status(404, f'namespaces "{namespace}" not found')
            plural = parts[2]
            store = self.objects.setdefault((namespace, plural), {})
            if len(parts) == 3:
                if method == "POST":
                    return self._create(namespace, plural, store, body)
                return 200, {"apiVersion": "v1", "kind": PLURALS[plural] + "List", "metadata": {},
                             "items": [obj for obj in store.values() if _selected(obj, query)]}
            name = parts[3]
            if plural == "serviceaccounts" and name == "default":
                return self._service_account(namespace)
            if name not in store:
                return _status(404, f'{plural} "{name}" not found')
            if len(parts) == 5 and parts[4] == "log":
                return self._log(namespace, store[name], query)
            return 200, store[name]

    def _create_namespace(self, body):
        name = body["metadata"]["name"]
        if name in self.namespaces:
            return _status(409, f'namespaces "{name}" already exists')
        self.namespaces[name] = {**body, "status": {"phase": "Active"}}
        self._countdown[("sa", name)] = self.service_account_reads
        return 201, self.namespaces[name]

    def _namespace(self, method, name):
        ns = self.namespaces.get(name)
        if ns is None:
            return _status(404, f'namespaces "{name}" not found')
        if method == "DELETE":
            ns["status"]["phase"] = "Terminating"
            self._countdown[("ns", name)] = self.terminating_reads
            self._kill_containers(name)
            return 200, ns
        if ns["status"]["phase"] == "Terminating":
            self._countdown[("ns", name)] -= 1
            if self._countdown[("ns", name)] < 0:
                del self.namespaces[name]
                for key in [k for k in self.objects if k[0] == name]:
                    del self.objects[key]
                return _status(404, f'namespaces "{name}" not found')
        return 200, ns

    def _create(self, namespace, plural, store, body):
        name = body["metadata"]["name"]
        if self.namespaces[namespace]["status"]["phase"] == "Terminating":
            return _status(403, f'unable to create new content in namespace {namespace} because it is being terminated')
        if name in store:
            return _status(409, f'{plural} "{name}" already exists')
        if plural == "pods" and self._countdown.get(("sa", namespace), 0) > 0:
            return _status(403, f'error looking up service account {namespace}/default: '
                                f'serviceaccount "default" not found')
        store[name] = {**body, "status": {"phase": "Pending"}} if plural == "pods" else dict(body)
        return 201, store[name]

    def _service_account(self, namespace):
        key = ("sa", namespace)
        if self._countdown.get(key, 0) > 0:
            self._countdown[key] -= 1
            return _status(404, 'serviceaccounts "default" not found')
        return 200, {"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": "default", "namespace": namespace}}

    def _kill_containers(self, namespace):
        """A deleted namespace's pods are being deleted: their containers are stopped for good."""
        for (ns, pod, container), instances in self.instances.items():
            if ns == namespace and instances[-1]["running"]:
                instances[-1]["running"], instances[-1]["exit"], instances[-1]["finished"] = False, 137, self._now()
                self._set_status(ns, pod, container, self._terminated(instances[-1]),
                                 last=instances[-2] if len(instances) > 1 else None,
                                 restarts=len(instances) - 1, container_id=instances[-1]["id"])
        for body in self.objects.get((namespace, "pods"), {}).values():
            body["metadata"]["deletionTimestamp"] = _rfc3339(self._now())
        self._changed.notify_all()

    def _log(self, namespace, pod, query):
        """The kubelet's choice of container instance (validateContainerLogStatus) and its lines."""
        name = pod["metadata"]["name"]
        container = query.get("container") or pod["spec"]["containers"][0]["name"]
        status = next((s for s in pod["status"].get("containerStatuses", []) if s["name"] == container), None)
        if status is None:
            return _status(400, f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
        state, last = status["state"], status.get("lastState", {}).get("terminated")
        if query.get("previous") == "true":
            if not last:
                return _status(400, f'previous terminated container "{container}" in pod "{name}" not found')
            wanted = last["containerID"]
        elif "running" in state:
            wanted = status["containerID"]
        elif "terminated" in state:
            wanted = state["terminated"]["containerID"]
        elif last:
            wanted = last["containerID"]
        else:
            reason = state.get("waiting", {}).get("reason")
            reason = {"ErrImagePull": "image can't be pulled",
                      "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
            return _status(400, f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        instance = next(i for i in self.instances[(namespace, name, container)] if i["id"] == wanted)
        stamps = query.get("timestamps") == "true"
        floor = time.time_ns() - int(query["sinceSeconds"]) * 10**9 if "sinceSeconds" in query else None
        lines = [(stamp, line) for stamp, line in instance["lines"] if floor is None or stamp >= floor]
        if "tailLines" in query:
            lines = lines[len(lines) - int(query["tailLines"]):] if int(query["tailLines"]) else []
        if query.get("follow") == "true" and instance["running"]:
            skipped = len(instance["lines"]) - len(lines)
            return 200, LogStream(self, instance, skipped, stamps)
        return 200, "".join(_log_line(stamp, line, stamps) for stamp, line in lines)


class LogStream:
    """A followed log: what the instance has printed from line ``start`` on, then what it prints,
    until it ends (or its namespace goes, the server closes, or the stream is cut)."""

    def __init__(self, server, instance, start, stamps):
        self.server, self.instance, self.sent, self.stamps = server, instance, start, stamps
        self.drops = server._drops

    def chunks(self):
        """Bytes as lines appear; None when cut."""
        changed = self.server._changed
        while True:
            with changed:
                while True:
                    if self.server._drops != self.drops or self.server._closing:
                        new, ended = None, True
                        break
                    new = self.instance["lines"][self.sent:]
                    ended = not self.instance["running"]
                    if new or ended:
                        break
                    changed.wait(0.5)
            if new is None:
                yield None
                return
            self.sent += len(new)
            if new:
                yield "".join(_log_line(stamp, line, self.stamps) for stamp, line in new).encode()
            elif ended:
                return


def _rfc3339(ns):
    """The node's clock as the kubelet prints it (Go's RFC3339Nano: trailing zeros trimmed)."""
    seconds, nanos = divmod(ns, 10**9)
    fraction = f"{nanos:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (f".{fraction}" if fraction else "") + "Z"


def _log_line(stamp, line, stamps):
    return f"{_rfc3339(stamp)} {line}" if stamps else line


def _selected(obj, query):
    selector = query.get("labelSelector")
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in (term.split("=", 1) for term in selector.split(",")))


def _status(code, message):
    reasons = {404: "NotFound", 409: "AlreadyExists", 403: "Forbidden", 422: "Invalid", 500: "InternalError"}
    return code, {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message,
                  "reason": reasons.get(code, "Unknown"), "code": code}
