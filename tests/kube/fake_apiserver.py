"""A small in-process stand-in for the Kubernetes API server (core/v1 only).

No real cluster can run where these tests run, so the backend's apply/query code is
exercised against this server instead: the real ``kubernetes`` client, real HTTP and
JSON, real ``ApiException``s; only the server side is simulated. It keeps the
semantics the backend relies on: 409 for an existing name, 404 for a missing one, a
deleted namespace stays ``Terminating`` for a few reads before it disappears with
everything in it, and a new namespace's default service account appears a few reads
after the namespace (the race real clusters have).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PLURALS = {"secrets": "Secret", "services": "Service", "pods": "Pod", "serviceaccounts": "ServiceAccount"}


class FakeApiServer:
    def __init__(self, terminating_reads=3, service_account_reads=2, post_delay=0.0):
        self.namespaces = {}
        self.objects = {}           # (namespace, plural) -> {name: object}
        self.logs = {}              # (namespace, pod, container) -> text
        self.requests = []          # (method, path, query, body) in arrival order
        self.fail = None            # fail(method, path, body) -> (status, message) or None
        self.terminating_reads = terminating_reads
        self.service_account_reads = service_account_reads
        self.post_delay = post_delay
        self.in_flight = self.max_in_flight = 0
        self._countdown = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path):
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
                  "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                  "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                  "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}
        path.write_text(json.dumps(config))
        return str(path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def created(self, kind=None):
        """Bodies of every successful create, in order (optionally of one kind)."""
        return [body for method, _, _, body, status in self.requests
                if method == "POST" and status == 201 and (kind is None or body["kind"] == kind)]

    def stored(self, namespace, plural):
        return self.objects.get((namespace, plural), {})

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
                if isinstance(payload, str):
                    self._respond(status, payload, "text/plain")
                else:
                    self._respond(status, payload)

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

    def _log(self, namespace, pod, query):
        text = self.logs.get((namespace, pod["metadata"]["name"], query.get("container")), "")
        lines = text.splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[len(lines) - int(query["tailLines"]):] if int(query["tailLines"]) else []
        return 200, "".join(lines)


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
