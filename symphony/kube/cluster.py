"""``Cluster.new('kube')`` (alias 'kubernetes', 'k8s'): an experiment is a namespace.

``plan`` (see :mod:`symphony.kube.manifests`) turns the experiment into manifests
without contacting anything; ``apply`` sends exactly those objects with the official
``kubernetes`` client — Namespace, then the Secret and Services, then the Pods, each
step's objects concurrently — and deletes the namespace again if any step fails.
Everything afterwards (``symphony p``, logs, exec, delete) finds the experiment from
the cluster itself through Symphony's labels, so it works from any machine.

The ``kubernetes`` package is imported only when a cluster is contacted, so
``symphony ls`` on another backend never pays for it.
"""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent import futures
from functools import partial

from ..addons.launch_builds import plan_builds, run_builds, settings_lookup
from ..cluster import Cluster, Prepared, ProcessState, ProcessStatus, pick_process, rollback_shield
from ..cluster.progress import delete_progress, launch_progress
from ..resolution.capabilities import KUBERNETES
from ..errors import (BackendUnavailableError, ExperimentExistsError, ExperimentNotFoundError,
                      LaunchError, SpecError, SymphonyError)
from ..host.logs import parse_since
from . import kubeconfig as kubeconfigs
from . import kubectl, port_forward, transfer
from .logs import LogFollower
from .manifests import (EXPERIMENT_LABEL, EXPOSED_SERVICE_TYPES, GROUP_LABEL, MANAGED_BY,
                        MANAGED_BY_LABEL, ORDER_ANNOTATION, build_plan)
from .readiness import CHECKS_ANNOTATION, WAIT_CONTAINER, WAITS_ANNOTATION, not_started_reason

SYMPHONY_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


class KubeCluster(Cluster):
    """A Kubernetes cluster reached through a kubeconfig (or the in-cluster service account).

    ``context``/``kubeconfig``: which cluster (default: kubectl's current context, from
    ``KUBECONFIG`` as it is when the cluster is made, or ~/.kube/config);
    ``exposed_service_type``: ``'LoadBalancer'`` or ``'NodePort'`` (clusters without a load
    balancer); ``grace``: pods' terminationGracePeriodSeconds (None: Kubernetes' 30 s);
    ``workers``: concurrent API requests while launching; ``timeout``: seconds to wait for
    a namespace to disappear, or for a container to start before its log is read.
    """

    backend_name = "kube"
    capabilities = KUBERNETES
    #: seconds between checks while waiting for a namespace to disappear
    poll_interval = 0.5

    def __init__(self, context=None, kubeconfig=None, preamble_cmds=None, exposed_service_type="LoadBalancer",
                 shell="/bin/sh", grace=None, workers=16, timeout=300.0, build_settings=None):
        super().__init__(preamble_cmds)
        self.build_settings = settings_lookup(build_settings)
        if exposed_service_type not in EXPOSED_SERVICE_TYPES:
            raise SpecError(f"exposed_service_type {exposed_service_type!r} is not supported: "
                            f"use one of {', '.join(EXPOSED_SERVICE_TYPES)}")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0):
            raise SpecError(f"grace must be a number of seconds >= 0, got {grace!r}")
        self.context = context
        self.kubeconfig = os.path.expanduser(kubeconfig) if kubeconfig else None
        #: ``KUBECONFIG`` when this cluster was made (the client reads it only once, at import)
        self.kubeconfig_environment = kubeconfigs.environment_value()
        self.exposed_service_type = exposed_service_type
        self.command_shell = shell
        self.grace = grace
        self.workers = max(1, int(workers))
        self.timeout = float(timeout)
        self._client_lock = threading.Lock()

    # --- the API client (lazy) ------------------------------------------------------
    @property
    def core(self):
        """``kubernetes.client.CoreV1Api`` for this cluster, created on first use."""
        with self._client_lock:
            if not hasattr(self, "_core"):
                api_client = self._api_client()
                from kubernetes import client
                self._core = client.CoreV1Api(api_client)
            return self._core

    def _api_client(self):
        paths = kubeconfigs.files(self.kubeconfig, self.kubeconfig_environment)
        from_files = bool(paths or self.context or not os.environ.get("KUBERNETES_SERVICE_HOST"))
        if from_files:
            paths = paths or [os.path.expanduser(kubeconfigs.DEFAULT)]
            existing = [path for path in paths if os.path.exists(path)]
            if not existing:  # said before importing the client, which alone costs seconds (an offline dry run)
                raise self._unconfigured(f"no kubeconfig file at {', '.join(paths)}")
        from kubernetes import client, config
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = self.workers
        try:
            if from_files:
                context = self.context or (kubeconfigs.first_current_context(existing) if len(existing) > 1 else None)
                config.load_kube_config(config_file=os.pathsep.join(existing), context=context,
                                        client_configuration=configuration, persist_config=False)
            else:
                config.load_incluster_config(client_configuration=configuration)
        except (config.ConfigException, OSError) as exc:
            raise self._unconfigured(exc) from None
        return client.ApiClient(configuration)

    @staticmethod
    def _unconfigured(reason):
        return BackendUnavailableError(
            f"no usable Kubernetes configuration ({reason}): point KUBECONFIG at a kubeconfig, or pass "
            f"Cluster.new('kube', kubeconfig=..., context=...)")

    def _call(self, what, function, *args, **kwargs):
        """Call the API, turning its exceptions into one-line Symphony errors."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        try:
            return function(*args, **kwargs)
        except ApiException as exc:
            raise KubeApiError(what, exc) from None
        except HTTPError as exc:
            raise BackendUnavailableError(f"cannot reach the Kubernetes API server to {what}: {exc}") from None

    # --- plan / apply ---------------------------------------------------------------
    def plan(self, exp):
        return self._plan_with_builds(exp)[0]

    def _plan_with_builds(self, exp):
        """(plan, builds): processes with ``build_image`` run ``<repo>:<experiment>``, built and
        pushed to the registry the cluster pulls from before anything is created."""
        builds, images = plan_builds(exp, self.build_settings)
        plan = build_plan(exp, images=images, builds=[b.describe(True) for b in builds.values()],
                          cluster_preamble=self.preamble_cmds, shell=self.command_shell,
                          exposed_service_type=self.exposed_service_type, grace=self.grace)
        return plan, builds

    def prepare(self, exp):
        """Build and push the images built on launch: a failed build or push stops the launch
        before anything exists (or is deleted, on a forced relaunch)."""
        plan, builds = self._plan_with_builds(exp)
        run_builds(builds, push=True)
        return Prepared(plan, frozenset(image for b in builds.values() for image in b.images))

    def apply(self, exp, prepared=None):
        """Create the plan's objects: on a terminal, a launch taking over a second shows
        ``n/total objects created`` (1,000 pods take half a minute)."""
        self._wait_until_free(exp.name)  # the namespace is named after the experiment
        plan = (prepared or self.prepare(exp)).plan
        namespace, *rest = plan.objects
        created = False
        try:
            with launch_progress(exp.name, total=len(plan.objects), what="objects") as progress:
                def create(obj):
                    self._create(obj)
                    progress.advance()
                create(namespace)
                created = True
                self._concurrently([partial(create, obj) for obj in rest if obj["kind"] in ("Secret", "Service")]
                                   + [partial(self._wait_for_default_service_account, plan.namespace)])
                self._concurrently([partial(create, obj) for obj in rest if obj["kind"] == "Pod"])
        except BaseException as exc:
            cleanup = ", nothing was left running"
            if created:
                try:
                    with rollback_shield():
                        self._delete_namespace(plan.namespace, wait=True)
                except SymphonyError as error:
                    cleanup = f" and removing namespace {plan.namespace!r} failed too ({error}): delete it by hand"
            if isinstance(exc, KubeApiError) or (isinstance(exc, Exception) and not isinstance(exc, SymphonyError)):
                raise LaunchError(f"launch of {exp.name!r} failed{cleanup}: {exc}") from exc
            raise
        return plan

    def _wait_until_free(self, name):
        """Refuse a running experiment; wait for one being deleted (``force=True``) to be gone
        (its pods' grace period, 30 s by default: shown as progress on a terminal)."""
        deadline = time.monotonic() + self.timeout
        with launch_progress(name, total=1, what="earlier namespaces", state="gone") as progress:
            while True:
                existing = self._read_namespace(name)
                if existing is None:
                    progress.advance()
                    return
                if (existing.metadata.labels or {}).get(MANAGED_BY_LABEL) != MANAGED_BY:
                    raise ExperimentExistsError(f"namespace {name!r} already exists and is not a Symphony "
                                                f"experiment: choose another experiment name")
                if existing.status.phase != "Terminating":
                    raise self.experiment_exists_error(name)
                if time.monotonic() > deadline:
                    raise LaunchError(f"experiment {name!r} is still being deleted after {self.timeout:.0f}s: "
                                      f"check `kubectl get all -n {name}` and try again")
                time.sleep(self.poll_interval)

    def _create(self, obj):
        self._fault_point(obj["kind"], obj)
        kind, name = obj["kind"], obj["metadata"]["name"]
        what = f"create {kind} {name!r}"
        if kind == "Namespace":
            return self._call(what, self.core.create_namespace, obj)
        create = {"Secret": self.core.create_namespaced_secret, "Service": self.core.create_namespaced_service,
                  "Pod": self.core.create_namespaced_pod}[kind]
        return self._call(what, create, obj["metadata"]["namespace"], obj)

    def _concurrently(self, steps):
        """Run independent steps (API calls) concurrently; the first failure cancels those not started."""
        if not steps:
            return
        with futures.ThreadPoolExecutor(max_workers=min(self.workers, len(steps))) as pool:
            submitted = [pool.submit(step) for step in steps]
            done, _ = futures.wait(submitted, return_when=futures.FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for future in submitted:
                    future.cancel()
                raise failed[0].exception()

    def _wait_for_default_service_account(self, namespace):
        """Pods are refused until the namespace's default service account exists (a fraction of a second)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._call("read the default service account", self.core.read_namespaced_service_account,
                           "default", namespace)
                return
            except KubeApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    # --- delete ---------------------------------------------------------------------
    def delete(self, name, wait=False):
        """Delete the experiment's namespace (everything in it goes with it); ``wait`` until gone."""
        self._experiment_namespace(name)
        port_forward.stop_port_forwards(name)
        self._delete_namespace(name, wait=wait)
        if self.current_experiment() == name:
            self.set_experiment(None)

    def _delete_namespace(self, name, wait):
        try:
            self._call(f"delete namespace {name!r}", self.core.delete_namespace, name)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
        if not wait:
            return
        deadline = time.monotonic() + self.timeout
        with delete_progress(name, total=1, what="namespaces", state="gone") as progress:
            while self._read_namespace(name) is not None:
                if time.monotonic() > deadline:
                    raise SymphonyError(f"namespace {name!r} is still terminating after {self.timeout:.0f}s: "
                                        f"check `kubectl get all -n {name}`")
                time.sleep(self.poll_interval)
            progress.advance()

    # --- queries --------------------------------------------------------------------
    def list_experiments(self):
        namespaces = self._call("list namespaces", self.core.list_namespace, label_selector=SYMPHONY_SELECTOR)
        return sorted(ns.metadata.name for ns in namespaces.items if ns.status.phase != "Terminating")

    def _read_namespace(self, name):
        try:
            return self._call(f"read namespace {name!r}", self.core.read_namespace, name)
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _experiment_namespace(self, name):
        namespace = self._read_namespace(name)
        if namespace is None or (namespace.metadata.labels or {}).get(MANAGED_BY_LABEL) != MANAGED_BY:
            raise ExperimentNotFoundError(f"no experiment {name!r} on the kube backend: `symphony ls` lists them")
        return namespace

    def _pods(self, name):
        self._experiment_namespace(name)
        pods = self._call(f"list the pods of {name!r}", self.core.list_namespaced_pod, name,
                          label_selector=f"{EXPERIMENT_LABEL}={name}").items
        return sorted(pods, key=lambda pod: int((pod.metadata.annotations or {}).get(ORDER_ANNOTATION, 0)))

    def describe_experiment(self, name):
        return [status for pod in self._pods(name) for status in pod_statuses(pod)]

    def _locate(self, experiment, process):
        """(pod name, container name, key) of ``process`` (its key, or a name unique in the experiment)."""
        entries = [(pod.metadata.name, container.name, container_key(pod, container.name))
                   for pod in self._pods(experiment) for container in pod.spec.containers]
        return pick_process(experiment, process, [(key, name, (pod, name, key)) for pod, name, key in entries])

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        """The container's log; first waits (up to ``timeout``) for a container still being created.
        ``follow``: across restarts, until the container ends for good (see :mod:`symphony.kube.logs`)."""
        pod, container, key = self._locate(experiment, process)
        since = parse_since(since)
        return LogFollower(self, experiment, pod, container, key, follow=follow, since=since, tail=tail).lines()

    def exposed_services(self, experiment):
        """Services of type LoadBalancer or NodePort: what manifests.py makes of exposed ones."""
        self._experiment_namespace(experiment)
        services = self._call("list services", self.core.list_namespaced_service, experiment).items
        return sorted(s.metadata.name for s in services if s.spec.type != "ClusterIP")

    def external_url(self, experiment, service):
        """The LoadBalancer's address; otherwise a ``kubectl port-forward`` on 127.0.0.1 (kept running)."""
        self._experiment_namespace(experiment)
        try:
            svc = self._call(f"read service {service!r}", self.core.read_namespaced_service, service, experiment)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            names = [s.metadata.name for s in self._call("list services", self.core.list_namespaced_service,
                                                         experiment).items]
            raise SymphonyError(f"experiment {experiment!r} has no service {service!r}: "
                                f"it has {', '.join(names) or 'none'}") from None
        if svc.spec.type == "ClusterIP":  # exposed services are LoadBalancer or NodePort (manifests.py)
            services = self._call("list services", self.core.list_namespaced_service, experiment).items
            raise self.not_exposed_error(experiment, service,
                                         [s.metadata.name for s in services if s.spec.type != "ClusterIP"])
        port = svc.spec.ports[0].port
        ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
        for entry in ingress:
            if entry.ip or entry.hostname:
                return f"http://{entry.ip or entry.hostname}:{port}"
        return port_forward.port_forward(self.kubectl_command, experiment, service, port)

    # --- acting on a process --------------------------------------------------------
    def exec_command(self, experiment, process, argv):
        """Run ``argv`` in the process's container (its env and working directory); return the exit code."""
        from kubernetes.stream import stream
        from kubernetes.stream.ws_client import ERROR_CHANNEL
        pod, container, key = self._locate(experiment, process)
        response = self._call(f"exec in {key!r}", stream, self.core.connect_get_namespaced_pod_exec, pod,
                              experiment, container=container, command=list(argv), stdin=False, stdout=True,
                              stderr=True, tty=False, _preload_content=False)
        try:
            while response.is_open():
                response.update(timeout=1)
                for peek, read, out in ((response.peek_stdout, response.read_stdout, sys.stdout),
                                        (response.peek_stderr, response.read_stderr, sys.stderr)):
                    if peek():
                        out.write(read())
                        out.flush()
            error = response.read_channel(ERROR_CHANNEL)
        finally:
            response.close()
        return _exit_code(error, key, argv)

    def shell(self, experiment, process):
        pod, container, _ = self._locate(experiment, process)
        return subprocess.call(self.kubectl_command(
            "exec", "-it", "-n", experiment, pod, "-c", container, "--",
            "/bin/sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"))

    def copy(self, experiment, source, destination):
        """``kubectl cp`` between this machine and a process's container (one side must be local)."""
        return transfer.copy(self.kubectl_command, partial(self._locate, experiment), experiment, source, destination)

    def kubectl_command(self, *args):
        """kubectl argv for this cluster (its kubeconfig and context); a clear error without kubectl."""
        return kubectl.kubectl_command(self.kubeconfig, self.context, *args,
                                       environment=self.kubeconfig_environment)

    # --- the original Symphony's kubectl queries ----------------------------------------
    def _kubectl_output(self, *args):
        """What kubectl prints for ``args`` on this cluster; its own error message, in one line, if it fails."""
        done = subprocess.run(self.kubectl_command(*args), capture_output=True, text=True)
        if done.returncode != 0:
            reason = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            raise SymphonyError(f"kubectl {' '.join(args[:2])} failed: {reason}")
        return done.stdout

    def current_context(self):
        """The kubeconfig context kubectl uses for this cluster (``kubectl config current-context``)."""
        return self.context or self._kubectl_output("config", "current-context").strip()

    def config_view(self):
        """``kubectl config view`` of this cluster's kubeconfig, as a dict (credentials redacted, as kubectl does)."""
        return json.loads(self._kubectl_output("config", "view", "-o", "json"))

    def query_resources(self, resource, output_format, names=None, labels="", fields="", namespace=None):
        """``kubectl get RESOURCE`` with ``-o output_format``: a dict for json and yaml, a list for
        name, kubectl's text otherwise. ``names`` (a list) or label/field selectors, not both."""
        if names and (labels or fields):
            raise SymphonyError("query_resources: give names= or labels=/fields= selectors, not both")
        args = ["get", resource] + (["--namespace", namespace] if namespace else [])
        if names is None:
            args += (["--selector", labels] if labels else []) + (["--field-selector", fields] if fields else [])
        else:
            args += list(names)
        out = self._kubectl_output(*args, "-o", output_format)
        if output_format in ("json", "yaml"):
            import yaml  # (JSON is YAML too)
            return yaml.safe_load(out)
        if output_format == "name":
            return out.split("\n")
        return out

    def query_jsonpath(self, resource, jsonpath, names=None, labels="", fields="", namespace=""):
        """The ``jsonpath`` value of each matching item (one item when ``names`` names one), as a list."""
        if "{" not in jsonpath:
            jsonpath = "{" + jsonpath + "}"
        if names is None or len(names) != 1:
            jsonpath = "{range .items[*]}" + jsonpath + '{"\\n\\n"}{end}'
        out = self.query_resources(resource, "jsonpath=" + jsonpath, names=names, labels=labels,
                                   fields=fields, namespace=namespace)
        return out.split("\n\n")


class KubeApiError(SymphonyError):
    """The API server refused a request; the message is the server's own reason."""

    def __init__(self, what, exc):
        self.status = exc.status
        message = exc.reason
        try:
            message = json.loads(exc.body).get("message") or message
        except (TypeError, ValueError):
            pass
        super().__init__(f"cannot {what}: {message} (HTTP {exc.status})")


def container_key(pod, container_name):
    """The process key of a container: ``group/name`` in a group's pod, else its name."""
    group = (pod.metadata.labels or {}).get(GROUP_LABEL)
    return f"{group}/{container_name}" if group else container_name


def pod_statuses(pod):
    """One :class:`ProcessStatus` per container of ``pod`` (a ``V1Pod``), as ``symphony p`` shows them."""
    group = (pod.metadata.labels or {}).get(GROUP_LABEL) or ""
    statuses = {s.name: s for s in (pod.status.container_statuses or [])} if pod.status else {}
    failure = _pod_failure(pod)
    unschedulable = _unschedulable(pod)
    checked, waiting = _annotation(pod, CHECKS_ANNOTATION), _annotation(pod, WAITS_ANNOTATION)
    result = []
    for container in pod.spec.containers:
        status = ProcessStatus(key=container_key(pod, container.name), group=group, name=container.name,
                               state=ProcessState.PENDING, detail=unschedulable or "")
        if failure is not None:  # an evicted pod's containers may have no status at all
            status.state, status.detail = ProcessState.FAILED, failure
        observed = statuses.get(container.name)
        if observed is not None:
            status.ready = bool(observed.ready)
            status.restarts = observed.restart_count or 0
            state = observed.state
            if state.running is not None:
                status.state, status.detail = ProcessState.RUNNING, ""
                status.started = _timestamp(state.running.started_at)
            elif state.terminated is not None:
                # no age: `terminated: Error (1)`; the times stay available in started/finished
                end = state.terminated
                status.state, status.exit_code = ProcessState.TERMINATED, end.exit_code
                status.detail = f"{end.reason or 'Terminated'} ({end.exit_code})"
                status.finished = _timestamp(end.finished_at)
            elif state.waiting is not None and failure is None:
                status.state, status.detail = ProcessState.WAITING, state.waiting.reason or ""
        if group and observed is not None and waiting.get(container.name):
            _held_member(status, observed, waiting[container.name])
        if container.name in checked:
            status.checked = True
            if status.state is ProcessState.RUNNING and not status.ready:
                status.not_ready = list(checked[container.name])
        result.append(status)
    if pod.status is not None and waiting:
        _held(pod, result, waiting)
    return result


def _annotation(pod, name):
    """A JSON annotation of the plan (container name -> services), {} when absent or unreadable."""
    text = (pod.metadata.annotations or {}).get(name)
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _held(pod, statuses, waiting):
    """A standalone process held by its wait container (see :mod:`symphony.kube.readiness`):
    ``waiting: replay (not ready 12s)`` while it waits, ``failed`` with its reason when it gave up."""
    init = next((s for s in pod.status.init_container_statuses or () if s.name == WAIT_CONTAINER), None)
    if init is None or init.state is None:
        return
    for status in statuses:
        services = waiting.get(status.name)
        if not services or status.state not in (ProcessState.PENDING, ProcessState.WAITING, ProcessState.FAILED):
            continue
        state = init.state
        if state.running is not None:
            since = _timestamp(state.running.started_at) or time.time()
            held = ProcessStatus.held(status.key, status.group, status.name, services, time.time() - since)
            status.state, status.detail, status.waiting_for = held.state, held.detail, held.waiting_for
        elif state.terminated is not None and state.terminated.exit_code:
            status.state, status.detail = ProcessState.FAILED, _reason_of(state.terminated)
        elif state.waiting is not None and init.last_state is not None and init.last_state.terminated is not None \
                and init.last_state.terminated.exit_code:  # given up, and run again by the pod's restart policy
            status.state, status.detail = ProcessState.FAILED, _reason_of(init.last_state.terminated)
            status.waiting_for = list(services)


def _held_member(status, observed, services):
    """A group member waiting in its own container (see :mod:`symphony.kube.readiness`): it runs,
    but its startupProbe has not passed (``started: false``) until the wait is over; a wait that
    gave up ends the container with ``not started: ...`` as its termination message."""
    state = observed.state
    if state.running is not None and observed.started is False:
        since = _timestamp(state.running.started_at) or time.time()
        held = ProcessStatus.held(status.key, status.group, status.name, services, time.time() - since)
        status.state, status.detail, status.waiting_for = held.state, held.detail, held.waiting_for
        status.started = None
        return
    ended = state.terminated
    if ended is None and state.waiting is not None and observed.last_state is not None:
        ended = observed.last_state.terminated  # (given up, and run again by the pod's restart policy)
    reason = not_started_reason(ended.message) if ended is not None else None
    if reason is not None:
        status.state, status.detail, status.waiting_for = ProcessState.FAILED, reason, list(services)


def _reason_of(terminated):
    lines = [line.strip() for line in (terminated.message or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"wait failed ({terminated.exit_code})"


def _pod_failure(pod):
    """``Evicted: <message>`` for a pod in phase Failed (its containers will never run again), else None."""
    if pod.status is None or pod.status.phase != "Failed":
        return None
    reason, message = pod.status.reason or "Failed", pod.status.message
    return f"{reason}: {message}" if message else reason


def _unschedulable(pod):
    for condition in (pod.status.conditions or []) if pod.status else []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"{condition.reason or 'Unschedulable'} — {condition.message or ''}".rstrip(" —")
    return None


def _timestamp(value):
    return value.timestamp() if value is not None else None


def _exit_code(error, key, argv):
    """Exit code from the exec error channel (a v1 Status: Success, or NonZeroExitCode with ExitCode)."""
    import yaml
    status = yaml.safe_load(error) if error else None
    if not status or status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise SymphonyError(f"cannot run {argv[0]!r} in {key!r}: {status.get('message', status)}")
