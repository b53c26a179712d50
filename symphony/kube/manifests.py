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

Readiness (see :mod:`symphony.kube.readiness`): a declared check becomes the binding
container's readinessProbe, and a waiting process is held by an init container (a group
member: by a wait before its own command).

Pods share the parts they have in common (``env`` items, volumes, mounts, resources, node
selector, tolerations: see :func:`_share`), so a plan's objects are for reading, rendering
and sending; copy one (``copy.deepcopy``) before editing it.
"""

import base64
import copy
import json
from dataclasses import dataclass, field

from ..errors import SpecError
from ..resolution import KUBERNETES, ContainerAddressing, Target, resolve
from ..resolution.checks import MANAGED_BY_LABEL, TOLERATION_EFFECTS, TOLERATION_OPERATORS  # noqa: F401
from ..resolution.meaning import ProcessMeaning, normalized_resources
from ..spec.secrets import CONTAINER_SECRETS_DIR
from .readiness import (CHECKS_ANNOTATION, HELD_MOUNT, HELD_VOLUME, WAIT_CONTAINER, WAIT_SCRIPT, WAITS_ANNOTATION,
                        json_annotation, probe_check, readiness_probe, rounded_notes, started_file, startup_probe,
                        wait_arguments)
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
    notes: list = field(default_factory=list)   # how a setting was adapted (probe times rounded up), for the header

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
                command = _unwrapped(container.get("command"))
                resources = {kind: {("gpu" if name == GPU_RESOURCE else name): value for name, value in amounts.items()}
                             for kind, amounts in container.get("resources", {}).items()}
                meanings[f"{group}/{container['name']}" if group else container["name"]] = ProcessMeaning(
                    argv=[_unliteral(arg) for arg in (command or []) + container.get("args", [])],
                    keeps_image_entrypoint=command is None,
                    env={item["name"]: _unliteral(item["value"]) for item in container.get("env", [])},
                    cwd=container.get("workingDir"), image=container["image"],
                    resources=normalized_resources(resources), restart_policy=pod["spec"]["restartPolicy"],
                    mounts=sorted((m["mountPath"], bool(m["readOnly"])) for m in container.get("volumeMounts", [])
                                  if m["mountPath"] not in (SECRET_MOUNT_PATH, HELD_MOUNT)),
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
        header += [f"# {note}" for note in self.notes]
        for build in self.builds:
            header.append(f"# build {build['setting']!r} from {build['dockerfile']}, then tag and push "
                          f"{', '.join(build['tags'])} (used by {', '.join(build['used_by'])})")
        documents = []
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


def build_plan(exp, *, cluster_preamble=(), shell="/bin/sh", exposed_service_type="LoadBalancer",
               grace=None, images=None, builds=()):
    """Resolve ``exp`` and write it as a :class:`KubePlan`; every mistake is a SpecError, nothing is contacted."""
    target = Target(capabilities=KUBERNETES, shell=shell, cluster_preamble=cluster_preamble,
                    secrets_dir=SECRET_MOUNT_PATH, images=images or {})
    resolved = resolve(exp, ContainerAddressing(host_for=lambda service, process: service), target)
    labels = {MANAGED_BY_LABEL: MANAGED_BY, EXPERIMENT_LABEL: exp.name}

    objects = [{"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": exp.name, "labels": dict(labels)}}]
    with_secrets = bool(resolved.secrets)
    if with_secrets:
        objects.append(_secret(exp.name, resolved.secrets, labels))

    notes = []
    for pod in resolved.pods:
        for process in pod.processes:
            declared = {check.service for check in process.checks if check.declared}
            for service, port in process.bound.items():
                objects.append(_service(service, port, pod.name, "ClusterIP", labels, service in declared))
            for service, port in process.exposed.items():
                objects.append(_service(service, port, pod.name, exposed_service_type, labels, service in declared))
            if probe_check(process.checks) is not None:
                notes += rounded_notes(process, probe_check(process.checks))
            if process.waits:
                _check_can_wait(process, pod, shell)
    ports, not_applied, pods = resolved.ports(), resolved.not_applied, resolved.pods
    # Each resolved pod is let go once written: what is no longer needed is not walked again
    # by the cycle collector's full passes while the rest of a big plan is built.
    del resolved
    everyone = {}  # what pods may share (see _share); a pod with overlays gets its own instead
    for index, pod in enumerate(pods):
        pods[index] = None
        shared = everyone if not pod.pod_yml and not any(p.container_yml for p in pod.processes) else None
        volumes, volume_names = _pod_volumes(pod.processes)
        containers = [_container(process, names, with_secrets, shared)
                      for process, names in zip(pod.processes, volume_names)]
        objects.append(_pod(pod, containers, volumes, labels, with_secrets, grace, shared, shell))
    return KubePlan(experiment=exp.name, ports=ports, objects=objects, builds=list(builds),
                    not_applied=not_applied, notes=notes)


def _check_can_wait(process, pod, shell):
    """What can be known at plan time of a wait: it is a shell script, and a group member's wait
    runs before its own command, which must therefore be known."""
    services = ", ".join(repr(wait.service) for wait in process.waits)
    if not shell:
        raise SpecError(f"process {process.key!r} waits for {services}, which on Kubernetes is a shell script in its "
                        f"image, but the cluster's shell setting is empty: set shell= to the image's shell "
                        f"(e.g. '/bin/sh'), or connect without wait=True")
    if pod.group is not None and process.launch.entrypoint is None:
        raise SpecError(f"process {process.key!r} waits for {services} in its own container before its command, "
                        f"but it runs its image's entrypoint, which Symphony cannot start after the wait: give "
                        f"command= (the entrypoint) as well as args=, or connect without wait=True")


def _secret(namespace, files, labels):
    data = {}
    for key, path in files:  # (sizes and file kinds checked by the resolver, for every backend)
        with open(path, "rb") as handle:
            data[key] = base64.b64encode(handle.read()).decode("ascii")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": namespace, "labels": dict(labels)},
            "data": data}


def _service(name, port, pod_name, service_type, labels, declared_check=False):
    """A Service routes only to ready pods when its provider declared a readiness check for it
    (Kubernetes' default). With the default TCP check it is reachable as soon as the pod has an
    address, not only while every container of its pod is ready (one finished group member
    would cut all): a connection is refused until the port listens either way."""
    spec = {"type": service_type,
            "selector": {EXPERIMENT_LABEL: labels[EXPERIMENT_LABEL], POD_LABEL: pod_name},
            "ports": [{"name": "tcp", "protocol": "TCP", "port": port, "targetPort": port}]}
    if not declared_check:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": labels[EXPERIMENT_LABEL], "labels": dict(labels)},
            "spec": spec}


def _share(shared, kind, key, build):
    """``build()``, or the equal value an earlier pod already built.

    A plan of 10,000 processes is mostly the same few parts again and again: forty
    variables (the services' addresses), a resource request, a volume, a node selector. Built
    once and referenced by every pod, they cost neither the allocations nor the cycle
    collector's walks of 10,000 copies, which grew the per-process cost of planning with the
    plan's size. Shared parts are only ever read (rendered, sent); ``shared`` is None for a
    pod with ``pod_yml``/``container_yml`` overlays, which merge in place: it builds its own.
    """
    if shared is None:
        return build()
    made = shared.get(kind)
    if made is None:
        made = shared[kind] = {}
    value = made.get(key)
    if value is None:
        value = made[key] = build()
    return value


def _env(env, shared):
    """The ``env`` list, of shared items (see :func:`_share`; 40 variables x 10,000 pods)."""
    if shared is None:
        return [{"name": name, "value": _literal(value) if "$" in value else value} for name, value in env.items()]
    items = []
    append = items.append
    by_name = shared.get("env")
    if by_name is None:
        by_name = shared["env"] = {}
    for name, value in env.items():
        by_value = by_name.get(name)
        if by_value is None:
            by_value = by_name[name] = {}
        item = by_value.get(value)
        if item is None:
            item = by_value[value] = {"name": name, "value": _literal(value) if "$" in value else value}
        append(item)
    return items


def _container(process, volume_names, with_secrets, shared=None):
    container = {"name": process.name, "image": process.image}
    launch = process.launch
    if launch.entrypoint is not None:
        container["command"] = [_literal(arg) for arg in launch.entrypoint]
    if launch.args:
        container["args"] = [_literal(arg) for arg in launch.args]
    if process.cwd:
        container["workingDir"] = process.cwd
    container["env"] = _env(process.env, shared)
    if process.bound or process.exposed:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"}
                              for ports in (process.bound, process.exposed) for port in ports.values()]
    if any(process.resources.values()):
        container["resources"] = _share(shared, "resources", repr(process.resources),
                                        lambda: _resources(process.resources))
    if process.pull_policy:
        container["imagePullPolicy"] = process.pull_policy
    if process.mounts or with_secrets:
        container["volumeMounts"] = _share(shared, "mounts", repr((volume_names, process.mounts)),
                                           lambda: _volume_mounts(process.mounts, volume_names, with_secrets))
    probed = probe_check(process.checks)
    if probed is not None:
        container["readinessProbe"] = readiness_probe(probed)
    for overlay in process.container_yml:
        deep_merge(container, overlay)
    return container


def _volume_mounts(mounts, volume_names, with_secrets):
    items = [{"name": name, "mountPath": m["mount_path"], "readOnly": m["read_only"]}
             for name, m in zip(volume_names, mounts)]
    if with_secrets:
        items.append({"name": SECRET_NAME, "mountPath": SECRET_MOUNT_PATH, "readOnly": True})
    return items


def _wait_command(shell, arguments):
    """The wait script (see :mod:`symphony.kube.readiness`) as a command."""
    return [shell, "-c", WAIT_SCRIPT, WAIT_CONTAINER, *arguments]


def _unwrapped(command):
    """A container's own command, without a wait before it (for :meth:`KubePlan.process_meanings`)."""
    if command and len(command) > 3 and command[2] == WAIT_SCRIPT and "--" in command[4:]:
        return command[command.index("--", 4) + 1:]
    return command


def _hold(pod, containers, shell):
    """Hold each waiting process of ``pod`` until its services accept connections: a standalone
    process by an init container running its image, a group member in its own container before
    its command (an init container would hold the group's providers too). Returns the init
    containers and the annotation saying who waits for what."""
    local = {service for process in pod.processes for service in [*process.bound, *process.exposed]}
    init, waiting = [], {}
    for process, container in zip(pod.processes, containers):
        if not process.waits:
            continue
        waiting[process.name] = [wait.service for wait in process.waits]
        arguments = wait_arguments(process, local)
        if pod.group is None:
            init.append({"name": WAIT_CONTAINER, "image": process.image, "command": _wait_command(shell, arguments),
                         "terminationMessagePolicy": "FallbackToLogsOnError",
                         **({"imagePullPolicy": process.pull_policy} if process.pull_policy else {})})
        else:
            own = container.get("command", []) + container.pop("args", [])
            marker = started_file(process.name)
            container["command"] = _wait_command(shell, ["--started-file", marker, *arguments, "--", *own])
            container["terminationMessagePolicy"] = "FallbackToLogsOnError"
            container["startupProbe"] = startup_probe(shell, marker, process.waits)
            container["volumeMounts"] = [*container.get("volumeMounts", ()), {"name": HELD_VOLUME,
                                                                              "mountPath": HELD_MOUNT,
                                                                              "readOnly": False}]
    return init, waiting


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
    """Equal for equal volumes. The model writes its kinds' settings in one order, so their
    repr is enough; a raw volume is the user's own mapping, compared through sorted JSON."""
    (kind, settings), = volume.items()
    return kind + repr(settings) if kind in _VOLUME_KINDS else json.dumps(volume, sort_keys=True)


def _pod_volumes(processes):
    """Volumes of one pod, keyed by the model's volume: identical ones (an NFS share every
    container mounts) become a single volume. Returns signature -> (name, volume) and, per
    process, its mounts' volume names; the volume objects are built by :func:`_pod_volume_list`."""
    volumes = {}
    names = []
    for process in processes:
        own = []
        for mount in process.mounts:
            signature = _signature(mount["volume"])
            known = volumes.get(signature)
            if known is None:
                (kind, _), = mount["volume"].items()
                prefix = _VOLUME_KINDS[kind][1] if kind in _VOLUME_KINDS else "volume"
                known = volumes[signature] = (f"{prefix}-{len(volumes)}", mount["volume"])
            own.append(known[0])
        names.append(own)
    return volumes, names


def _pod_volume_list(volumes, with_secrets):
    items = [{"name": name, **_volume_source(volume)} for name, volume in volumes.values()]
    if with_secrets:
        items.append({"name": SECRET_NAME, "secret": {"secretName": SECRET_NAME}})
    return items


def _pod(pod, containers, volumes, labels, with_secrets, grace, shared=None, shell="/bin/sh"):
    """One pod: a standalone process's or a group's (labels and selectors checked by the resolver)."""
    annotations = {ORDER_ANNOTATION: str(pod.position)}
    checked = {process.name: [check.service for check in process.checks] for process in pod.processes
               if probe_check(process.checks) is not None}
    if checked:
        annotations[CHECKS_ANNOTATION] = json_annotation(checked)
    init = ()
    if any(process.waits for process in pod.processes):
        init, waiting = _hold(pod, containers, shell)
        annotations[WAITS_ANNOTATION] = json_annotation(waiting)
    pod_labels = {**pod.labels, **labels, POD_LABEL: pod.name}
    if pod.group is not None:
        pod_labels[GROUP_LABEL] = pod.name
    spec = {"restartPolicy": pod.restart_policy,
            # a namespace holds only this experiment; Docker-link style variables for every
            # Service would only add noise (and thousands of variables in big experiments)
            "enableServiceLinks": False,
            "containers": containers}
    if init:
        spec["initContainers"] = init
    if volumes or with_secrets:
        spec["volumes"] = _share(shared, "volumes", "\n".join(volumes) + f"\n{with_secrets}",
                                 lambda: _pod_volume_list(volumes, with_secrets))
    if pod.group is not None and any(process.waits for process in pod.processes):
        spec["volumes"] = [*spec.get("volumes", ()), {"name": HELD_VOLUME,
                                                       "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    if pod.node_selectors:
        spec["nodeSelector"] = _share(shared, "nodeSelector", repr(pod.node_selectors),
                                      lambda: dict(pod.node_selectors))
    if pod.tolerations:
        spec["tolerations"] = _share(shared, "tolerations", repr(pod.tolerations),
                                     lambda: [{_FIELD_NAMES.get(k, k): v for k, v in t.items()}
                                              for t in pod.tolerations])
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = _share(shared, "imagePullSecrets", repr(pod.image_pull_secrets),
                                          lambda: [{"name": secret} for secret in pod.image_pull_secrets])
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = int(grace)
    manifest = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": labels[EXPERIMENT_LABEL], "labels": pod_labels,
                             "annotations": annotations},
                "spec": spec}
    if pod.pod_yml:
        deep_merge(manifest, pod.pod_yml)
    return manifest
