"""The Kubernetes backend's plan: an experiment translated into manifests (plain dicts).

Translation, in one pass over the model:

* the experiment becomes a Namespace labelled as Symphony's;
* ``secrets=[...]`` files become one Secret, mounted read-only at ``/etc/secrets`` in
  every container;
* every bound or exposed service becomes a Service selecting the pod of the process
  that provides it (ClusterIP when bound, LoadBalancer or NodePort when exposed); its
  DNS name is ``SYMPH_<SERVICE>_HOST``;
* a standalone process becomes a Pod with one container, a process group one Pod
  with a container per process (they share localhost, so ports are distinct across
  the experiment).

The objects are plain dicts in the API's own (camelCase) shape. They are what
``apply`` sends and what ``render()`` prints, so a dry run shows exactly what would be
created; the only difference is that Secret values are redacted when printed. Strings
are printed so that no YAML reader can take them for anything else (see
:mod:`symphony.kube.yaml_render`), and ``repr()`` of a plan never shows Secret data.
``pod_yml`` and ``container_yml`` are deep-merged over the generated objects last
(see :func:`deep_merge`), so anything the model has no method for can still be set.
"""

import base64
import contextlib
import copy
import gc
import json
from dataclasses import dataclass, field

from ..errors import SpecError
from ..resolution import KUBERNETES, ContainerAddressing, Target, resolve
from ..resolution.checks import MANAGED_BY_LABEL, TOLERATION_EFFECTS, TOLERATION_OPERATORS  # noqa: F401
from ..resolution.meaning import ProcessMeaning, normalized_resources
from ..spec.secrets import CONTAINER_SECRETS_DIR
from .yaml_render import dump_manifest

MANAGED_BY = "symphony"
EXPERIMENT_LABEL = "symphony/experiment"
POD_LABEL = "symphony/pod"
GROUP_LABEL = "symphony/group"
ORDER_ANNOTATION = "symphony/order"

SECRET_NAME = "symphony-secrets"
SECRET_MOUNT_PATH = CONTAINER_SECRETS_DIR
REDACTED = "<redacted>"  # not base64, so `kubectl apply` of a redacted dry run fails loudly
EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")
GPU_RESOURCE = "nvidia.com/gpu"

_VOLUME_KINDS = {  # model mount kind -> (volume source key, volume name prefix)
    "nfs": ("nfs", "nfs"),
    "host_path": ("hostPath", "host-path"),
    "empty_dir": ("emptyDir", "empty-dir"),
    "secret": ("secret", "secret"),
}
_FIELD_NAMES = {"size_limit": "sizeLimit", "secret_name": "secretName",
                "toleration_seconds": "tolerationSeconds"}


@dataclass
class KubePlan:
    """Everything ``apply`` creates, in creation order: Namespace, Secret, Services, Pods."""

    experiment: str
    ports: dict
    objects: list = field(default_factory=list)
    builds: list = field(default_factory=list)   # images built (and pushed) before anything is created
    not_applied: list = field(default_factory=list)   # always empty: Kubernetes applies every setting

    def __repr__(self):
        """Counts only: the default repr would print the Secret's data, and a notebook echoes
        the plan ``launch(exp, dry_run=True)`` returns."""
        kinds = {}
        for obj in self.objects:
            kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
        counts = [f"{count} {kind}" for kind, count in kinds.items()]
        if self.builds:
            counts.append(f"{len(self.builds)} image builds")
        return f"KubePlan({self.experiment!r}: {', '.join(counts) or 'no objects'})"

    @property
    def namespace(self):
        return self.experiment

    def of_kind(self, kind):
        return [obj for obj in self.objects if obj["kind"] == kind]

    def to_dict(self):
        """Plain data; Secret values redacted, as in :meth:`render`."""
        objects = [{**obj, "data": {key: REDACTED for key in obj["data"]}} if obj["kind"] == "Secret" else obj
                   for obj in self.objects]
        return {"experiment": self.experiment, "ports": dict(self.ports), "objects": objects,
                "builds": list(self.builds)}

    def process_meanings(self):
        """key -> :class:`ProcessMeaning`, read back from the Pod manifests (``$$`` unescaped)."""
        meanings = {}
        for pod in self.of_kind("Pod"):
            group = pod["metadata"]["labels"].get(GROUP_LABEL)
            for container in pod["spec"]["containers"]:
                command = container.get("command")
                resources = {kind: {("gpu" if name == GPU_RESOURCE else name): value for name, value in amounts.items()}
                             for kind, amounts in container.get("resources", {}).items()}
                meanings[f"{group}/{container['name']}" if group else container["name"]] = ProcessMeaning(
                    argv=[_unliteral(arg) for arg in (command or []) + container.get("args", [])],
                    keeps_image_entrypoint=command is None,
                    env={item["name"]: _unliteral(item["value"]) for item in container.get("env", [])},
                    cwd=container.get("workingDir"), image=container["image"],
                    resources=normalized_resources(resources), restart_policy=pod["spec"]["restartPolicy"],
                    mounts=sorted((m["mountPath"], bool(m["readOnly"])) for m in container.get("volumeMounts", [])
                                  if m["mountPath"] != SECRET_MOUNT_PATH),
                    labels={k: v for k, v in pod["metadata"]["labels"].items()
                            if not k.startswith("symphony/") and k != MANAGED_BY_LABEL})
        return meanings

    def render(self, show_secrets=False):
        """Multi-document YAML that ``kubectl apply -f -`` accepts.

        Secret values are replaced by ``<redacted>`` (which is not base64, so applying the
        redacted text fails instead of creating a wrong Secret) unless ``show_secrets``.
        """
        pods, services = self.of_kind("Pod"), self.of_kind("Service")
        header = [f"# kube experiment {self.experiment!r}: {len(pods)} pods, {len(services)} services",
                  "# ports: " + (", ".join(f"{name}={port}" for name, port in sorted(self.ports.items())) or "none")]
        for build in self.builds:
            header.append(f"# build {build['setting']!r} from {build['dockerfile']}, then tag and push "
                          f"{', '.join(build['tags'])} (used by {', '.join(build['used_by'])})")
        documents = []
        with cycle_collector_paused():
            for obj in self.objects:
                comment = ""
                if obj["kind"] == "Secret" and not show_secrets:
                    obj = {**obj, "data": {key: REDACTED for key in obj["data"]}}
                    comment = "# Secret values redacted (keys only); launch sends the files' bytes\n"
                documents.append(comment + dump_manifest(obj))
        return "\n".join(header) + "\n---\n" + "---\n".join(documents)


def deep_merge(base, overlay):
    """Merge ``overlay`` into ``base`` in place (how ``pod_yml``/``container_yml`` apply).

    Mappings merge key by key; a ``None`` value removes the key; lists whose items all
    carry a ``name`` (containers, env, volumes, volumeMounts, ports) merge item by item
    matched on ``name``, new names appended — as ``kubectl``'s strategic merge does;
    any other value replaces the generated one.
    """
    for key, value in overlay.items():
        current = base.get(key)
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            deep_merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and _named(value) and _named(current):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    deep_merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)
    return base


def _named(items):
    return all(isinstance(item, dict) and "name" in item for item in items)


@contextlib.contextmanager
def cycle_collector_paused():
    """Pause Python's cycle collector while a big plan is built or printed.

    A plan of 10,000 processes is millions of small dicts and lists, none of them in a
    cycle; every full collection triggered while they pile up walks all of them again, so
    with the collector running, planning 10,000 processes cost 1.6 times as much per process
    as planning 1,000 (1.1 times without). Nothing built here is garbage until the plan
    itself is dropped, so nothing is lost by collecting afterwards, as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_plan(exp, **settings):
    """Resolve ``exp`` and write it as a :class:`KubePlan`; every mistake is a SpecError, nothing is contacted."""
    with cycle_collector_paused():
        return _build_plan(exp, **settings)


def _build_plan(exp, *, cluster_preamble=(), shell="/bin/sh", exposed_service_type="LoadBalancer",
                grace=None, images=None, builds=()):
    target = Target(capabilities=KUBERNETES, shell=shell, cluster_preamble=cluster_preamble,
                    secrets_dir=SECRET_MOUNT_PATH, images=images or {})
    resolved = resolve(exp, ContainerAddressing(host_for=lambda service, process: service), target)
    labels = {MANAGED_BY_LABEL: MANAGED_BY, EXPERIMENT_LABEL: exp.name}

    objects = [{"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": exp.name, "labels": dict(labels)}}]
    with_secrets = bool(resolved.secrets)
    if with_secrets:
        objects.append(_secret(exp.name, resolved.secrets, labels))

    for pod in resolved.pods:
        for process in pod.processes:
            for service, port in process.bound.items():
                objects.append(_service(service, port, pod.name, "ClusterIP", labels))
            for service, port in process.exposed.items():
                objects.append(_service(service, port, pod.name, exposed_service_type, labels))
    for pod in resolved.pods:
        volumes = _pod_volumes(pod.processes)
        containers = [_container(process, volumes, with_secrets) for process in pod.processes]
        objects.append(_pod(pod, containers, volumes, labels, with_secrets, grace))
    return KubePlan(experiment=exp.name, ports=resolved.ports(), objects=objects, builds=list(builds),
                    not_applied=resolved.not_applied)


def _secret(namespace, files, labels):
    data = {}
    for key, path in files:  # (sizes and file kinds checked by the resolver, for every backend)
        with open(path, "rb") as handle:
            data[key] = base64.b64encode(handle.read()).decode("ascii")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": dict(labels)},
            "data": data}


def _service(name, port, pod_name, service_type, labels):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": labels[EXPERIMENT_LABEL], "labels": dict(labels)},
            "spec": {"type": service_type,
                     "selector": {EXPERIMENT_LABEL: labels[EXPERIMENT_LABEL], POD_LABEL: pod_name},
                     "ports": [{"name": "tcp", "protocol": "TCP", "port": port, "targetPort": port}],
                     # reachable as soon as the pod has an address, not only while every
                     # container of its pod is ready (one finished group member would cut all)
                     "publishNotReadyAddresses": True}}


def _container(process, volumes, with_secrets):
    container = {"name": process.name, "image": process.image}
    launch = process.launch
    if launch.entrypoint is not None:
        container["command"] = [_literal(arg) for arg in launch.entrypoint]
    if launch.args:
        container["args"] = [_literal(arg) for arg in launch.args]
    if process.cwd:
        container["workingDir"] = process.cwd
    container["env"] = [{"name": name, "value": value.replace("$", "$$") if "$" in value else value}
                        for name, value in process.env.items()]  # (_literal, inlined: 40 variables x 10,000 pods)
    if process.ports:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"} for port in process.ports]
    resources = _resources(process.resources)
    if resources:
        container["resources"] = resources
    if process.pull_policy:
        container["imagePullPolicy"] = process.pull_policy
    mounts = [{"name": volumes[_signature(m["volume"])]["name"], "mountPath": m["mount_path"],
               "readOnly": m["read_only"]} for m in process.mounts]
    if with_secrets:
        mounts.append({"name": SECRET_NAME, "mountPath": SECRET_MOUNT_PATH, "readOnly": True})
    if mounts:
        container["volumeMounts"] = mounts
    for overlay in process.container_yml:
        deep_merge(container, overlay)
    return container


def _literal(text):
    """The kubelet expands ``$(VAR)`` in command, args and env values; ``$$`` is a literal ``$``."""
    return text.replace("$", "$$")


def _unliteral(text):
    return text.replace("$$", "$")


def _resources(resources):
    """The resolved requests/limits in quantity notation (``gpu`` is ``nvidia.com/gpu``)."""
    return {kind: {(GPU_RESOURCE if name == "gpu" else name): str(value) for name, value in amounts.items()}
            for kind, amounts in resources.items() if amounts}


def _volume_source(volume):
    (kind, settings), = volume.items()
    if kind == "raw":
        return copy.deepcopy(settings)
    source_key = _VOLUME_KINDS[kind][0]
    return {source_key: {_FIELD_NAMES.get(name, name): value for name, value in settings.items()}}


def _signature(volume):
    return json.dumps(volume, sort_keys=True)


def _pod_volumes(processes):
    """Volumes of one pod, keyed by the model's volume: identical ones (an NFS share every
    container mounts) become a single volume."""
    volumes = {}
    for process in processes:
        for mount in process.mounts:
            signature = _signature(mount["volume"])
            if signature not in volumes:
                (kind, _), = mount["volume"].items()
                prefix = _VOLUME_KINDS[kind][1] if kind in _VOLUME_KINDS else "volume"
                volumes[signature] = {"name": f"{prefix}-{len(volumes)}", **_volume_source(mount["volume"])}
    return volumes


def _pod(pod, containers, volumes, labels, with_secrets, grace):
    """One pod: a standalone process's or a group's (labels and selectors checked by the resolver)."""
    volumes = list(volumes.values())
    if with_secrets:
        volumes.append({"name": SECRET_NAME, "secret": {"secretName": SECRET_NAME}})
    pod_labels = {**pod.labels, **labels, POD_LABEL: pod.name}
    if pod.group is not None:
        pod_labels[GROUP_LABEL] = pod.name
    spec = {"restartPolicy": pod.restart_policy,
            # a namespace holds only this experiment; Docker-link style variables for every
            # Service would only add noise (and thousands of variables in big experiments)
            "enableServiceLinks": False,
            "containers": containers}
    if volumes:
        spec["volumes"] = volumes
    if pod.node_selectors:
        spec["nodeSelector"] = dict(pod.node_selectors)
    if pod.tolerations:
        spec["tolerations"] = [{_FIELD_NAMES.get(k, k): v for k, v in t.items()} for t in pod.tolerations]
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in pod.image_pull_secrets]
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = int(grace)
    manifest = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": labels[EXPERIMENT_LABEL], "labels": pod_labels,
                             "annotations": {ORDER_ANNOTATION: str(pod.position)}},
                "spec": spec}
    if pod.pod_yml:
        deep_merge(manifest, pod.pod_yml)
    return manifest
