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
:class:`_KubectlSafeDumper`), and ``repr()`` of a plan never shows Secret data.
``pod_yml`` and ``container_yml`` are deep-merged over the generated objects last
(see :func:`deep_merge`), so anything the model has no method for can still be set.
"""

import base64
import copy
import functools
import gc
import json
import re
from dataclasses import dataclass, field

import yaml

from ..errors import SpecError
from ..networking import ContainerAddressing, resolve
from ..spec.commands import preamble_lines, process_argv, user_env
from ..spec.secrets import CONTAINER_SECRETS_DIR, SECRETS_DIR_VAR, secret_files

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "symphony"
EXPERIMENT_LABEL = "symphony/experiment"
POD_LABEL = "symphony/pod"
GROUP_LABEL = "symphony/group"
ORDER_ANNOTATION = "symphony/order"
RESERVED_LABEL_PREFIX = "symphony/"

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
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_FIELD_NAMES = {"size_limit": "sizeLimit", "secret_name": "secretName",
                "toleration_seconds": "tolerationSeconds"}


@dataclass
class KubePlan:
    """Everything ``apply`` creates, in creation order: Namespace, Secret, Services, Pods."""

    experiment: str
    ports: dict
    objects: list = field(default_factory=list)
    builds: list = field(default_factory=list)   # images built (and pushed) before anything is created

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
        for obj in self.objects:
            comment = ""
            if obj["kind"] == "Secret" and not show_secrets:
                obj = {**obj, "data": {key: REDACTED for key in obj["data"]}}
                comment = "# Secret values redacted (keys only); launch sends the files' bytes\n"
            documents.append(comment + _dump_yaml(obj))
        return "\n".join(header) + "\n---\n" + "---\n".join(documents)


#: Strings that may stay unquoted: they start with a letter and hold only characters no YAML
#: resolver gives a meaning to, so they are strings in YAML 1.1 (kubectl's Go YAML) and 1.2 alike.
_PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
#: ... except these words, which YAML 1.1 reads as booleans or null (in any capitalisation).
_YAML11_WORDS = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null"))


class _KubectlSafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml: ~10x faster
    """Every string double-quoted unless it is plainly a string.

    PyYAML leaves bare whatever *it* reads back as a string, so ``y``, ``on``, ``5e-2`` or
    ``0o17`` stay unquoted; kubectl reads YAML 1.1 through Go and would send ``true``,
    ``0.05`` or ``15`` instead (or refuse the object), and the printed plan would not be
    what apply sends.
    """


@functools.lru_cache(maxsize=1 << 16)  # names and values repeat across thousands of containers
def _str_style(text):
    return None if _PLAIN_SAFE.fullmatch(text) and text.lower() not in _YAML11_WORDS else '"'


def _represent_str(dumper, text):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=_str_style(text))


_KubectlSafeDumper.add_representer(str, _represent_str)


def _dump_yaml(obj):
    return yaml.dump(obj, Dumper=_KubectlSafeDumper, sort_keys=False, default_flow_style=False)


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


def build_plan(exp, *, cluster_preamble=(), shell="/bin/sh", exposed_service_type="LoadBalancer",
               grace=None, images=None, builds=()):
    """Translate ``exp`` into a :class:`KubePlan`; every mistake is a SpecError, nothing is contacted.

    The plan is only acyclic dicts, so the cycle collector is paused while it is built: its
    full passes over a heap of 10,000 pods would otherwise make planning grow faster than linearly.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        plan = _build_plan(exp, cluster_preamble, shell, exposed_service_type, grace, images or {})
        plan.builds = list(builds)
        return plan
    finally:
        if was_enabled:
            gc.enable()


def _build_plan(exp, cluster_preamble, shell, exposed_service_type, grace, images):
    _check_namespace_name(exp.name)
    providers = exp.service_providers()
    book = resolve(exp, ContainerAddressing(host_for=lambda service, process: service))
    symph_env = book.env()
    symph_env["SYMPH_EXPERIMENT"] = exp.name
    if exp.secrets:
        symph_env[SECRETS_DIR_VAR] = SECRET_MOUNT_PATH
    labels = {MANAGED_BY_LABEL: MANAGED_BY, EXPERIMENT_LABEL: exp.name}

    objects = [{"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": exp.name, "labels": dict(labels)}}]
    secret_keys = []
    if exp.secrets:
        secret = _secret(exp, labels)
        secret_keys = list(secret["data"])
        objects.append(secret)

    exposed = set(exp.exposed_services())
    for service, process in providers.items():
        service_type = exposed_service_type if service in exposed else "ClusterIP"
        objects.append(_service(service, book[service].port, process.pod_name, service_type, labels))

    units = [(process.name, None, [process]) for process in exp.list_processes()]
    units += [(group.name, group, group.list_processes()) for group in exp.list_process_groups()]
    for order, (pod_name, group, processes) in enumerate(units):
        volumes = _pod_volumes(processes)
        containers = [_container(process, images.get(process.key, process.container_image), book, symph_env,
                                 cluster_preamble, shell, volumes, bool(secret_keys)) for process in processes]
        objects.append(_pod(pod_name, group or processes[0], group, containers, volumes, labels,
                            order, bool(secret_keys), grace))
    return KubePlan(experiment=exp.name, ports=book.ports(), objects=objects)


def _check_namespace_name(name):
    if name == "default" or name.startswith("kube-"):
        raise SpecError(f"experiment name {name!r} is reserved by Kubernetes (it becomes the namespace): "
                        f"choose another name, e.g. 'exp-{name}'")


def _check_labels(owner, what, labels):
    """Label keys and values as the API server checks them, so a typo fails before launch."""
    for key, value in labels.items():
        prefix, _, label = key.rpartition("/")
        if not _LABEL_NAME.match(label) or (prefix and not _LABEL_PREFIX.match(prefix)):
            raise SpecError(f"{what} key {key!r} on {owner!r} is invalid: use up to 63 letters, digits, '-', '_' "
                            f"or '.', starting and ending with a letter or digit, optionally after 'domain/'")
        if value and not _LABEL_NAME.match(value):
            raise SpecError(f"{what} value {value!r} of {key!r} on {owner!r} is invalid: use up to 63 letters, "
                            f"digits, '-', '_' or '.', starting and ending with a letter or digit")


def _check_toleration(owner, toleration):
    operator, effect = toleration.get("operator"), toleration.get("effect")
    if operator is not None and operator not in TOLERATION_OPERATORS:
        raise SpecError(f"toleration operator {operator!r} on {owner!r} is invalid: use Exists or Equal")
    if effect not in (None, "") and effect not in TOLERATION_EFFECTS:
        raise SpecError(f"toleration effect {effect!r} on {owner!r} is invalid: use one of "
                        f"{', '.join(TOLERATION_EFFECTS)}")
    if operator == "Exists" and toleration.get("value"):
        raise SpecError(f"toleration on {owner!r} has operator Exists and a value: drop value= or use operator='Equal'")


def _secret(exp, labels):
    data = {}
    for key, path in secret_files(exp):  # (sizes and file kinds checked there, for every backend)
        with open(path, "rb") as handle:
            data[key] = base64.b64encode(handle.read()).decode("ascii")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": exp.name, "labels": dict(labels)},
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


def _container(process, image, book, symph_env, cluster_preamble, shell, volumes, with_secrets):
    if not image:
        raise SpecError(f"process {process.key!r} has no container image: give container_image='...' "
                        f"(Kubernetes runs every process in a container)")
    container = {"name": process.name, "image": image}
    container.update({field: [_literal(arg) for arg in argv]
                      for field, argv in _command(process, preamble_lines(process, cluster_preamble), shell).items()})
    if process.cwd:
        container["workingDir"] = process.cwd
    env = user_env(process)
    env.update(symph_env)
    env["SYMPH_PROCESS"] = process.key
    container["env"] = [{"name": name, "value": _literal(value)} for name, value in env.items()]
    ports = [book[service].port for service in list(process.bound) + list(process.exposed)]
    if ports:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"} for port in ports]
    resources = _resources(process)
    if resources:
        container["resources"] = resources
    pull_policy = process.effective_pull_policy()
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    mounts = [{"name": volumes[_signature(m["volume"])]["name"], "mountPath": m["mount_path"],
               "readOnly": m["read_only"]} for m in process.effective_mounts()]
    if with_secrets:
        if any(m["mountPath"] == SECRET_MOUNT_PATH for m in mounts):
            raise SpecError(f"process {process.key!r} mounts something at {SECRET_MOUNT_PATH}, where the "
                            f"experiment's secrets go: choose another mount_path")
        mounts.append({"name": SECRET_NAME, "mountPath": SECRET_MOUNT_PATH, "readOnly": True})
    if mounts:
        container["volumeMounts"] = mounts
    if process.group is not None and process.group.container_yml:
        deep_merge(container, process.group.container_yml)
    if process.container_yml:
        deep_merge(container, process.container_yml)
    return container


def _literal(text):
    """The kubelet expands ``$(VAR)`` in command, args and env values; ``$$`` is a literal ``$``."""
    return text.replace("$", "$$")


def _command(process, preamble, shell):
    """Container command/args: exec form verbatim; ``args`` alone keep the image's entrypoint."""
    if not process.cmds and process.command is None:
        if preamble:
            raise SpecError(f"process {process.key!r} gives args without command, which keeps the image's "
                            f"entrypoint, so preamble_cmds cannot run first: give command= as well")
        return {"args": list(process.args)} if process.args else {}
    if process.cmds or preamble:
        return {"command": process_argv(process, preamble, shell)}
    return {"command": [process.command], "args": list(process.args)}


def _resources(process):
    """Requests/limits in quantity notation; a group's resources are defaults for its processes."""
    result = {}
    for kind in ("requests", "limits"):
        amounts = dict(process.group.resources[kind]) if process.group is not None else {}
        amounts.update(process.resources[kind])
        if amounts:
            result[kind] = {(GPU_RESOURCE if name == "gpu" else name): str(value) for name, value in amounts.items()}
    requested_gpu = result.get("requests", {}).get(GPU_RESOURCE)
    if requested_gpu is not None:
        limit = result.setdefault("limits", {}).setdefault(GPU_RESOURCE, requested_gpu)
        if limit != requested_gpu:
            raise SpecError(f"process {process.key!r} requests {requested_gpu} GPUs but limits them to {limit}: "
                            f"Kubernetes needs GPU request and limit equal; give only resource_limit(gpu=...)")
    return result


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
        for mount in process.effective_mounts():
            signature = _signature(mount["volume"])
            if signature not in volumes:
                (kind, _), = mount["volume"].items()
                prefix = _VOLUME_KINDS[kind][1] if kind in _VOLUME_KINDS else "volume"
                volumes[signature] = {"name": f"{prefix}-{len(volumes)}", **_volume_source(mount["volume"])}
    return volumes


def _pod(name, owner, group, containers, volumes, labels, order, with_secrets, grace):
    """One pod: a standalone process's (``owner`` is the process) or a group's (``owner`` is the group)."""
    volumes = list(volumes.values())
    if with_secrets:
        volumes.append({"name": SECRET_NAME, "secret": {"secretName": SECRET_NAME}})
    for key in owner.labels:
        if key.startswith(RESERVED_LABEL_PREFIX) or key == MANAGED_BY_LABEL:
            raise SpecError(f"label {key!r} on {name!r} is reserved for Symphony's own bookkeeping: "
                            f"choose a key without the {RESERVED_LABEL_PREFIX!r} prefix")
    _check_labels(name, "label", owner.labels)
    _check_labels(name, "node_selector", owner.node_selectors)
    for toleration in owner.tolerations:
        _check_toleration(name, toleration)
    pod_labels = {**owner.labels, **labels, POD_LABEL: name}
    if group is not None:
        pod_labels[GROUP_LABEL] = name
    spec = {"restartPolicy": owner._restart_policy,
            # a namespace holds only this experiment; Docker-link style variables for every
            # Service would only add noise (and thousands of variables in big experiments)
            "enableServiceLinks": False,
            "containers": containers}
    if volumes:
        spec["volumes"] = volumes
    if owner.node_selectors:
        spec["nodeSelector"] = dict(owner.node_selectors)
    if owner.tolerations:
        spec["tolerations"] = [{_FIELD_NAMES.get(k, k): v for k, v in t.items()} for t in owner.tolerations]
    if owner.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": secret} for secret in owner.image_pull_secrets]
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = int(grace)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": labels[EXPERIMENT_LABEL], "labels": pod_labels,
                        "annotations": {ORDER_ANNOTATION: str(order)}},
           "spec": spec}
    if owner.pod_yml:
        deep_merge(pod, owner.pod_yml)
    return pod
