"""The dashboard's web server (aiohttp): pages, the JSON API, live feeds and log streams.

Design, and why:

* Backends block (SQLite, tmux, the Docker engine), so every ``Cluster`` call runs in a
  small thread pool; each worker thread keeps its own ``Cluster`` per backend, because
  SQLite connections and Docker clients are not shared across threads.
* One poller per watched thing (the experiments list, or one experiment), shared by
  every page watching it and stopped when the last page leaves: ten open tabs cost one
  ``describe_experiment`` per interval, and a closed tab costs nothing.
* Pages get a snapshot, then only what changed (server-sent events), so an experiment
  of 1,000 processes updates a row, not a table. Each page has a bounded queue; a page
  that cannot keep up is disconnected and, on reconnecting, gets a fresh snapshot — the
  server's memory does not grow with a slow or vanished reader.
* Logs are the ``symphony logs`` command itself, run as a child process per open log
  view: the same matching, ``--since``/``--tail`` parsing and follow logic, and a view
  that is closed ends its child, whatever the backend's follow is waiting on.
* Access needs the token (query, ``Authorization: token ...`` or the cookie the first
  visit sets); the cookie is ``SameSite=Strict`` and a delete must be a JSON POST naming
  the experiment, so another site cannot make a browser delete anything.
"""

import asyncio
import hmac
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from ..errors import ExperimentNotFoundError, SymphonyError
from . import DEFAULT_PORT, documents

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: the only files served from STATIC_DIR: nothing else on disk is reachable through a URL
STATIC_FILES = {"app.js": "application/javascript", "app.css": "text/css"}
EXPERIMENT_NAME = re.compile(r"^[a-z0-9][-a-z0-9]{0,62}$")
PROCESS_KEY = re.compile(r"^[a-z0-9][-a-z0-9]{0,62}(/[a-z0-9][-a-z0-9]{0,62})?$")
TOKEN_FILE = "dashboard-token"
KEEPALIVE = 5.0          # seconds between SSE comments: finds a vanished page within this time
QUEUE_LIMIT = 64         # pending updates per page before it is disconnected (and gets a snapshot back)
MAX_LINE = 1 << 20       # a log "line" longer than this is shown in pieces
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # visit links must not carry the page's URL elsewhere
    "X-Content-Type-Options": "nosniff",
}

APP_STATE = web.AppKey("dashboard", object)


# --- backends -----------------------------------------------------------------------

def configured_backends(args):
    """The backends the page shows: ``--backends``, else the selected one (``-b``, ``$SYMPHONY_BACKEND``,
    the config file, ``local``) followed by every backend named under ``backends:`` in the config file."""
    from ..engines.registry import canonical_backend
    if args.backends:
        names = [canonical_backend(name.strip()) for name in args.backends.split(",") if name.strip()]
    else:
        from ..config import SymphonyConfig, selected_backend
        config = SymphonyConfig()
        names = [canonical_backend(selected_backend(getattr(args, "backend", None)))]
        names += configured_in_file(config)
    return list(dict.fromkeys(names))


def configured_in_file(config):
    """Backends named under ``backends:`` in the config file (their keyword arguments are checked
    when each is created, as for every command)."""
    config._ensure_loaded()
    return list(config._settings["backends"])


class Backends:
    """Runs ``Cluster`` calls in worker threads, one ``Cluster`` per backend and thread."""

    def __init__(self, names, workers=4):
        self.names = names
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard")
        self._local = threading.local()

    def _cluster(self, backend):
        clusters = getattr(self._local, "clusters", None)
        if clusters is None:
            clusters = self._local.clusters = {}
        if backend not in clusters:
            clusters[backend] = new_cluster(backend)
        return clusters[backend]

    async def call(self, backend, function, *args):
        """``function(cluster, *args)`` in a worker thread, with that thread's cluster of ``backend``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: function(self._cluster(backend), *args))

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


def new_cluster(backend):
    """The cluster the ``symphony`` command would create for ``backend`` (keyword arguments from the
    config file's ``backends:`` section)."""
    from ..cluster import Cluster
    from ..config import SymphonyConfig
    return Cluster.new(backend, **SymphonyConfig().backend_kwargs(backend))


# --- live feeds ---------------------------------------------------------------------

class Subscriber:
    """One open page's queue of updates."""

    def __init__(self):
        self.queue = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.initialised = False

    def put(self, event, data):
        """Queue an update; a page too far behind is told to reconnect (and then gets a snapshot)."""
        try:
            self.queue.put_nowait((event, data))
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((None, None))


class Feed:
    """Polls one thing for every page that watches it, and sends each page what changed.

    It starts when a page asks for the thing's page (so the first snapshot is being read while
    the browser loads the script) and stops ``LINGER`` seconds after the last page left (so
    moving between pages, or a page reconnecting, finds it warm); then it is forgotten.
    """

    LINGER = 10.0

    def __init__(self, registry, key, poll, interval):
        self.registry, self.key, self.poll, self.interval = registry, key, poll, interval
        self.subscribers = set()
        self.state = None       # the last snapshot, sent at once to a page that joins
        self.task = None
        self.idle_since = None

    def warm(self):
        loop = asyncio.get_running_loop()
        if not self.subscribers:
            self.idle_since = loop.time()
        if self.task is None:
            self.task = loop.create_task(self._run())

    def subscribe(self):
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        if self.state is not None:
            subscriber.put("snapshot", self.state)
            subscriber.initialised = True
        self.warm()
        self.idle_since = None
        return subscriber

    def unsubscribe(self, subscriber):
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self.idle_since = asyncio.get_running_loop().time()

    async def _run(self):
        loop = asyncio.get_running_loop()
        tick = 0
        while True:
            started = loop.time()
            if not self.subscribers and self.idle_since is not None and started - self.idle_since > self.LINGER:
                self.registry.pop(self.key, None)
                self.task = None
                return
            try:
                state, changes = await self.poll(self.state, tick)
            except asyncio.CancelledError:
                raise
            except ExperimentNotFoundError as exc:
                self.state = None
                self._publish("gone", {"error": str(exc)}, None)
            except Exception as exc:  # a backend's failure is shown on the page, and polling goes on
                self._publish("failure", {"error": f"{type(exc).__name__}: {exc}"}, None)
            else:
                self.state = state
                self._publish("snapshot", state, changes)
            tick += 1
            await asyncio.sleep(max(0.05, self.interval - (loop.time() - started)))

    def _publish(self, event, snapshot, changes):
        """A page that joined (or lost track) gets the whole state; the others get ``changes``."""
        for subscriber in list(self.subscribers):
            if event != "snapshot":
                subscriber.put(event, snapshot)
                subscriber.initialised = False
                continue
            if not subscriber.initialised:
                subscriber.put("snapshot", snapshot)
                subscriber.initialised = True
                continue
            for name, data in changes:
                subscriber.put(name, data)


def process_delta(previous, current):
    """Processes that changed (``state_text`` aside: it holds an age, which the page computes) and
    keys that went away."""
    def comparable(process):
        return {k: v for k, v in process.items() if k != "state_text"}
    before = {p["key"]: comparable(p) for p in previous["processes"]}
    after = {p["key"]: p for p in current["processes"]}
    changed = [p for key, p in after.items() if before.get(key) != comparable(p)]
    removed = [key for key in before if key not in after]
    return changed, removed


class Dashboard:
    """Everything one running dashboard holds."""

    def __init__(self, backends, token, interval):
        self.backends, self.token, self.interval = backends, token, interval
        self.feeds = {}
        self.children = set()       # `symphony logs` processes of open log views
        self.closing = asyncio.Event()

    def overview_feed(self):
        key = ("overview",)
        if key not in self.feeds:
            self.feeds[key] = Feed(self.feeds, key, self.overview_poller(), max(1.0, self.interval))
        return self.feeds[key]

    def experiment_feed(self, backend, experiment):
        key = ("experiment", backend, experiment)
        if key not in self.feeds:
            self.feeds[key] = Feed(self.feeds, key, self.experiment_poller(backend, experiment), self.interval)
        return self.feeds[key]

    # -- the experiments page
    async def backend_rows(self, backend):
        """One backend's experiments; a backend that cannot answer gives its error instead."""
        try:
            return {"backend": backend, "experiments": await self.backends.call(backend, documents.backend_overview)}
        except Exception as exc:
            return {"backend": backend, "experiments": [], "error": f"{type(exc).__name__}: {exc}"}

    async def overview(self):
        """Every backend's experiments, once (``GET /api/experiments``)."""
        results = await asyncio.gather(*(self.backend_rows(backend) for backend in self.backends.names))
        return {"now": documents.now(), "backends": results}

    def overview_poller(self):
        """The experiments page's poll. Each backend is asked on its own: a slow one (a remote
        cluster, a busy Docker engine) shows as still loading and never holds back the others."""
        asking, latest = {}, {}

        async def poll(previous, tick):
            for backend in self.backends.names:
                if backend not in asking:
                    asking[backend] = asyncio.ensure_future(self.backend_rows(backend))
            await asyncio.wait(list(asking.values()), timeout=self.interval)
            for backend, task in list(asking.items()):
                if task.done():
                    latest[backend] = task.result()
                    del asking[backend]
            rows = [latest.get(backend, {"backend": backend, "experiments": [], "loading": True})
                    for backend in self.backends.names]
            state = {"now": documents.now(), "backends": rows}
            same = previous is not None and previous["backends"] == rows
            return state, () if same else [("snapshot", state)]  # small: any change re-sends all of it
        return poll

    # -- one experiment's page
    def experiment_poller(self, backend, experiment):
        metrics = documents.HostMetrics()

        def host_metrics(cluster, pids):
            return None if cluster.runs_in_containers else metrics.sample(pids)

        async def poll(previous, tick):
            # the metrics of the pids seen last time are read alongside, not before, the states:
            # a state change must not wait for 1,000 /proc reads
            pids = [p["pid"] for p in previous["document"]["processes"]] if previous is not None else []
            sampling = tick % 2 == 1 and previous is not None  # CPU% over about a second: steadier, half the cost
            document, sampled = await asyncio.gather(
                self.backends.call(backend, documents.processes_document, experiment),
                self.backends.call(backend, host_metrics, pids) if sampling else asyncio.sleep(0))
            changes = []
            if previous is not None:
                changed, removed = process_delta(previous["document"], document)
                if changed or removed:
                    changes.append(("delta", {"now": documents.now(), "changed": changed, "removed": removed}))
            by_key = previous["metrics"] if previous is not None else None
            if sampled is not None:
                before = by_key or {}
                by_key = {p["key"]: sampled[p["pid"]] for p in document["processes"] if p["pid"] in sampled}
                moved = {key: value for key, value in by_key.items() if before.get(key) != value}
                if moved:  # only what moved: most of 1,000 idle processes show the same figures
                    changes.append(("metrics", moved))
            return {"now": documents.now(), "document": document, "metrics": by_key}, changes
        return poll


# --- HTTP ---------------------------------------------------------------------------

def cookie_name(request):
    """Cookies are per host, not per port: two dashboards on one machine each keep their own."""
    return f"symphony-dashboard-{request.url.port or ''}"


def token_of(request):
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("token "):
        return header[6:].strip()
    return request.query.get("token") or request.cookies.get(cookie_name(request))


@web.middleware
async def guard(request, handler):
    """No token, no answer: every path, pages and API alike, needs it."""
    dashboard = request.app[APP_STATE]
    given = token_of(request)
    if not given or not hmac.compare_digest(given.encode(), dashboard.token.encode()):
        why = "a wrong token" if given else "no token"
        return web.Response(status=403, text=f"refused: {why}. Open the URL `symphony dashboard` printed "
                                             f"(it ends with ?token=...).\n", headers=SECURITY_HEADERS)
    if "token" in request.query and request.method == "GET" and not request.path.startswith("/api/"):
        # first visit: keep the token in a cookie and take it out of the address bar and history
        query = {k: v for k, v in request.query.items() if k != "token"}
        target = str(request.rel_url.with_query(query)) if query else request.path
        response = web.Response(status=302, headers={"Location": target, **SECURITY_HEADERS})
        response.set_cookie(cookie_name(request), dashboard.token, httponly=True, samesite="Strict", path="/")
        return response
    response = await handler(request)
    if not response.prepared:  # (event streams sent theirs when they started)
        response.headers.update(SECURITY_HEADERS)
    return response


def checked(request, *, process=False):
    """``(backend, experiment)`` of the URL, refused unless the backend is shown here and the name is one."""
    dashboard = request.app[APP_STATE]
    backend, experiment = request.match_info["backend"], request.match_info["experiment"]
    if backend not in dashboard.backends.names:
        raise web.HTTPNotFound(text=f"backend {backend!r} is not shown here: this dashboard shows "
                                    f"{', '.join(dashboard.backends.names)}\n")
    if not EXPERIMENT_NAME.match(experiment):
        raise web.HTTPNotFound(text=f"{experiment!r} is not an experiment name\n")
    return backend, experiment


async def page(request):
    """Every page is the same document; the script draws the one the path names. The data the page
    will ask for first is read meanwhile."""
    dashboard = request.app[APP_STATE]
    if "experiment" in request.match_info:
        if request.path.endswith("/logs"):
            checked(request)
        else:
            dashboard.experiment_feed(*checked(request)).warm()
    else:
        dashboard.overview_feed().warm()
    return web.FileResponse(os.path.join(STATIC_DIR, "index.html"), headers={"Cache-Control": "no-cache"})


async def static(request):
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(os.path.join(STATIC_DIR, name),
                            headers={"Content-Type": STATIC_FILES[name], "Cache-Control": "no-cache"})


def failure(status, message):
    return web.json_response({"error": message}, status=status)


async def api_experiments(request):
    return web.json_response(await request.app[APP_STATE].overview())


async def api_processes(request):
    """``symphony p EXPERIMENT -o json``, for the page and for programs."""
    backend, experiment = checked(request)
    try:
        document = await request.app[APP_STATE].backends.call(backend, documents.processes_document, experiment)
    except ExperimentNotFoundError as exc:
        return failure(404, str(exc))
    except SymphonyError as exc:
        return failure(502, str(exc))
    return web.json_response(document)


async def api_services(request):
    """The services ``symphony visit`` can open; ``null`` where the backend cannot list them."""
    backend, experiment = checked(request)
    try:
        services = await request.app[APP_STATE].backends.call(
            backend, lambda cluster: cluster.exposed_services(experiment))
    except ExperimentNotFoundError as exc:
        return failure(404, str(exc))
    except SymphonyError as exc:
        return failure(502, str(exc))
    return web.json_response({"services": services})


async def api_delete(request):
    """``symphony delete``: only a JSON POST whose ``confirm`` is the experiment's exact name."""
    backend, experiment = checked(request)
    if request.content_type != "application/json":
        return failure(415, "send JSON: {\"confirm\": \"<experiment name>\"}")
    try:
        body = await request.json()
    except ValueError:
        return failure(400, "the body is not JSON: send {\"confirm\": \"<experiment name>\"}")
    if not isinstance(body, dict) or body.get("confirm") != experiment:
        return failure(400, f"not deleted: confirm by sending {{\"confirm\": \"{experiment}\"}}")
    dashboard = request.app[APP_STATE]

    def delete(cluster):
        cluster.require_experiment(experiment)
        cluster.delete(experiment)
    try:
        await dashboard.backends.call(backend, delete)
    except ExperimentNotFoundError as exc:
        return failure(404, str(exc))
    except SymphonyError as exc:
        return failure(502, str(exc))
    return web.json_response({"deleted": experiment, "backend": backend})


async def visit(request):
    """``symphony visit``: the service's URL from the backend, as a redirect."""
    backend, experiment = checked(request)
    service = request.match_info["service"]

    def url(cluster):
        from ..spec.names import best_candidates
        exposed = cluster.exposed_services(experiment)
        name = service
        if exposed is not None:  # the same tiers as `symphony visit`; a page cannot ask which one
            _, candidates = best_candidates(service, list(exposed))
            if len(candidates) > 1:
                raise SymphonyError(f"{service!r} matches several services of {experiment!r}: "
                                    f"{', '.join(candidates)}")
            name = candidates[0] if candidates else service
        return cluster.external_url(experiment, name)
    try:
        target = await request.app[APP_STATE].backends.call(backend, url)
    except ExperimentNotFoundError as exc:
        raise web.HTTPNotFound(text=f"{exc}\n")
    except SymphonyError as exc:
        raise web.HTTPNotFound(text=f"{exc}\n")
    raise web.HTTPFound(target)


async def event_stream(request):
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no", **SECURITY_HEADERS})
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")  # reconnect within a second when the server comes back
    return response


async def send(response, event, data):
    await response.write(f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


def still_allowed():
    """What a page's ``HEAD`` gets: its token is still good (the guard refused it otherwise)."""
    return web.Response(headers={"Content-Type": "text/event-stream"})


async def relay(request, feed):
    """Stream a feed to one page until it leaves, falls behind, or the server stops."""
    dashboard = request.app[APP_STATE]
    response = await event_stream(request)
    subscriber = feed.subscribe()
    try:
        while not dashboard.closing.is_set():
            try:
                event, data = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE)
            except asyncio.TimeoutError:
                await response.write(b": still here\n\n")
                continue
            if event is None:
                break
            await send(response, event, data)
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        feed.unsubscribe(subscriber)
    return response


async def events_overview(request):
    if request.method == "HEAD":
        return still_allowed()
    return await relay(request, request.app[APP_STATE].overview_feed())


async def events_experiment(request):
    where = checked(request)
    if request.method == "HEAD":
        return still_allowed()
    return await relay(request, request.app[APP_STATE].experiment_feed(*where))


async def logs(request):
    """A process's output as the ``symphony logs`` command prints it, streamed as events: ``reset`` first
    (a reconnecting view starts over), then batches of ``lines``, then ``end`` or ``failure``."""
    backend, experiment = checked(request)
    process = request.query.get("process", "")
    if not PROCESS_KEY.match(process):
        return failure(400, f"{process!r} is not a process name: give [group/]process")
    if request.method == "HEAD":
        return still_allowed()
    argv = [sys.executable, "-m", "symphony.cli", "-b", backend, "logs", process, experiment]
    since, tail = request.query.get("since", "").strip(), request.query.get("tail", "").strip() or "-1"
    if since:
        from ..host.logs import parse_since
        try:
            parse_since(since)
        except SymphonyError as exc:
            return failure(400, str(exc))
        argv += ["--since", since]
    if not re.fullmatch(r"-1|\d{1,9}", tail):
        return failure(400, f"invalid tail {tail!r}: give a line count, or -1 for everything")
    argv += ["--tail", tail]
    follow = request.query.get("follow", "1") not in ("0", "false", "")
    if follow:
        argv.append("--follow")
    dashboard = request.app[APP_STATE]
    child = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                 start_new_session=True, limit=MAX_LINE)
    dashboard.children.add(child)
    response = None
    try:
        response = await event_stream(request)
        await send(response, "reset", {"process": process, "experiment": experiment, "backend": backend})
        errors = asyncio.ensure_future(child.stderr.read(64 * 1024))
        pending = b""
        while not dashboard.closing.is_set():
            try:
                chunk = await asyncio.wait_for(child.stdout.read(64 * 1024), KEEPALIVE)
            except asyncio.TimeoutError:
                await response.write(b": still here\n\n")
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            while len(pending) > MAX_LINE:
                lines.append(pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
            if lines:
                await send(response, "lines", [line.decode("utf-8", "replace") for line in lines])
        if pending:
            await send(response, "lines", [pending.decode("utf-8", "replace")])
        code = await child.wait()
        message = (await errors).decode("utf-8", "replace").strip()
        if code:
            await send(response, "failure", {"error": message.splitlines()[-1] if message else f"exit {code}"})
        else:
            await send(response, "end", {"follow": follow})
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        dashboard.children.discard(child)
        await stop_child(child)
    return response


async def stop_child(child):
    if child.returncode is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(child.wait(), 3)
        except asyncio.TimeoutError:
            os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


async def on_shutdown(app):
    dashboard = app[APP_STATE]
    dashboard.closing.set()
    for feed in list(dashboard.feeds.values()):
        for subscriber in list(feed.subscribers):
            subscriber.put(None, None)
        if feed.task:
            feed.task.cancel()
    await asyncio.gather(*(stop_child(child) for child in list(dashboard.children)), return_exceptions=True)
    dashboard.backends.close()


def make_app(backends, token, interval=0.5):
    """The aiohttp application (tests and :func:`serve` use it)."""
    app = web.Application(middlewares=[guard])
    app[APP_STATE] = Dashboard(backends, token, interval)
    app.router.add_get("/", page)
    app.router.add_get("/e/{backend}/{experiment}", page)
    app.router.add_get("/e/{backend}/{experiment}/logs", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/experiments", api_experiments)
    app.router.add_get("/api/experiments/{backend}/{experiment}", api_processes)
    app.router.add_get("/api/experiments/{backend}/{experiment}/services", api_services)
    app.router.add_post("/api/experiments/{backend}/{experiment}/delete", api_delete)
    app.router.add_get("/api/events", events_overview)
    app.router.add_get("/api/events/{backend}/{experiment}", events_experiment)
    app.router.add_get("/api/logs/{backend}/{experiment}", logs)
    app.router.add_get("/visit/{backend}/{experiment}/{service}", visit)
    app.on_shutdown.append(on_shutdown)
    return app


# --- starting -----------------------------------------------------------------------

def stored_token():
    """The token kept in ``$SYMPHONY_HOME`` (0600), made on first use: a restarted dashboard keeps
    it, so open pages reconnect instead of being refused."""
    from ..state import symphony_home
    path = os.path.join(symphony_home(), TOKEN_FILE)
    try:
        with open(path) as handle:
            token = handle.read().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return token


def listening_socket(host, port):
    """A bound socket: ``port`` itself when given, else the default port or the next free one after it."""
    candidates = [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + 50)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    error = None
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.listen(128)
        return sock
    raise SymphonyError(f"cannot listen on {host}:{port if port is not None else DEFAULT_PORT}: "
                        f"{error.strerror if error else 'no free port'}: choose another with --port")


def serve(args):
    """Run the dashboard until SIGINT or SIGTERM."""
    if args.token is not None and len(args.token) < 16:
        raise SymphonyError("--token must be at least 16 characters (it is the only protection of the page)")
    backends = Backends(configured_backends(args))
    token = args.token or stored_token()
    sock = listening_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}"
    print(f"symphony dashboard of {', '.join(backends.names)} at {url}", flush=True)
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"note: listening on {host}: anyone who can reach it and has the token can delete experiments",
              file=sys.stderr, flush=True)
    if not args.no_browser:
        import webbrowser
        if not webbrowser.open(url):
            print("no web browser found here: open the URL above", file=sys.stderr, flush=True)
    web.run_app(make_app(backends, token, args.interval), sock=sock, print=None, shutdown_timeout=2,
                handler_cancellation=True, access_log=None)
    return 0
