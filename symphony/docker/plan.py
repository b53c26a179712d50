"""The Docker backend's plan: one network and one container config per process, as plain data.

``launch(dry_run=True)`` prints exactly this, and ``apply`` creates exactly this.

* Experiment = a user-defined bridge network named ``symphony-<experiment>``; every
  object carries the label ``symphony.experiment=<experiment>``, which is how
  ``list``/``delete`` find them (the engine is the only state).
* Process group = one network namespace, like a pod: a small *holder* container
  (Kubernetes' pause container; it runs Symphony's own image, see :mod:`.holder`) joins
  the network under the group's name, owns the namespace and publishes the group's exposed
  ports; every process of the group runs with ``network_mode=container:<holder>`` and they
  reach each other on localhost.
  The holder lives until delete, so a member that exits first takes neither the
  group's name nor its ports with it. Holders start before any process, so the
  group names resolve from the start.
* Services resolve to that DNS name (the group's, or a standalone process's own);
  exposed ones are also published on ``127.0.0.1`` of the host on a port Docker
  picks, so nothing collides; not on an internal network, where Docker publishes
  nothing (``visit`` gives the container's address there).
* What a process runs, its environment, effective resources (a group's are defaults
  for its processes), mounts and every check (image names, a relative ``cwd``, exec
  size limits) come from :func:`symphony.resolution.resolve`; this module only writes
  them in Docker's terms. Settings Docker has no use for (node selectors, Kubernetes
  manifests) are listed in the plan as not applied; ones it would get wrong (a
  Kubernetes Secret volume) are refused.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

from ..errors import LaunchError
from ..resolution import DOCKER, ContainerAddressing, Target, resolve
from ..resolution.checks import RESERVED_LABELS
from ..resolution.meaning import ProcessMeaning, normalized_resources
from ..spec import quantities
from ..spec.secrets import CONTAINER_SECRETS_DIR
from . import tools
from .holder import HOLDER_COMMAND, HOLDER_ENTRYPOINT, HOLDER_IMAGE

LABEL_EXPERIMENT = "symphony.experiment"
LABEL_PROCESS = "symphony.process"        # the process key (group/name or name)
LABEL_POSITION = "symphony.position"      # declaration order, for `symphony p`
LABEL_EXPOSES = "symphony.exposes"        # JSON {service: container port} on the namespace owner
LABEL_ROLE = "symphony.role"              # "holder" on a group's network-namespace holder
LABEL_CHECKS = "symphony.checks"          # JSON [check] of the declared readiness checks `symphony p` makes
SHELL = "/bin/sh"

#: Symphony's restart policies (Kubernetes' words) in Docker's terms.
RESTART_POLICIES = {
    "Never": {"Name": "no"},
    "OnFailure": {"Name": "on-failure", "MaximumRetryCount": 0},
    "Always": {"Name": "always"},
}
_POLICY_NAMES = {policy["Name"]: name for name, policy in RESTART_POLICIES.items()}


@dataclass
class ContainerPlan:
    key: str
    group: str
    name: str
    container_name: str
    image: str
    entrypoint: list           # None keeps the image's ENTRYPOINT (args-only processes, as on Kubernetes)
    command: list
    environment: dict
    working_dir: str
    labels: dict
    restart_policy: dict
    pull_policy: str
    network: str = None        # set on namespace owners
    aliases: list = field(default_factory=list)
    hostname: str = None
    network_mode: str = None   # "container:<owner>" for the other processes of a group
    ports: dict = field(default_factory=dict)    # "7000/tcp" -> ["127.0.0.1", None]: Docker picks the host port
    resources: dict = field(default_factory=dict)
    gpus: int = 0
    mounts: list = field(default_factory=list)
    # the restart runner's entrypoint (symphony.docker.tools), the process's argv after it; None: no runner
    runner: list = None
    # readiness: the checks of the services it provides, and the services it waits for before it starts
    # (held by Symphony's wait script, symphony.docker.tools), as plain data
    checks: list = field(default_factory=list)
    waits: list = field(default_factory=list)

    def prefix(self):
        """What runs before the process's argv: the wait script, then the restart runner (or None)."""
        prefix = []
        if self.waits:
            prefix += tools.wait_entrypoint(self.waits, self.container_name,
                                            hold=self.restart_policy["Name"] != "no")
        if self.runner is not None:
            prefix += list(self.runner)
        return prefix or None

    def argv(self, image_config=None):
        """What the process runs, as Docker would make it of the entrypoint and command:
        ``image_config`` (the image's Config) gives what the image itself says, when needed."""
        if self.entrypoint is not None:
            return list(self.entrypoint) + list(self.command)
        image_config = image_config or {}
        return list(image_config.get("Entrypoint") or []) + list(self.command or image_config.get("Cmd") or [])

    def without_runner(self):
        """Fall back to the engine's restarts: no runner, none of its mounts."""
        self.runner = None
        self.mounts = [m for m in self.mounts if m["target"] not in (tools.TOOLS_DIR, tools.STATE_DIR)]

    def create_kwargs(self, client, image_config=None):
        """Keyword arguments for ``client.containers.create`` (``image_config``: see :meth:`argv`)."""
        from docker.types import DeviceRequest, DriverConfig, Mount
        # init=True: Docker's tiny init is PID 1, so SIGTERM reaches the process (a program
        # running as PID 1 ignores it unless it installs a handler) and zombies are reaped.
        # The restart policy is set with a runner too: the runner restarts the process inside the
        # container, and Docker starts the container again after a restart of the engine itself.
        kwargs = dict(image=self.image, name=self.container_name, command=self.command,
                      environment=self.environment, labels=self.labels, init=True,
                      restart_policy=self.restart_policy, detach=True, **self.resources)
        if self.prefix() is not None:
            kwargs.update(entrypoint=self.prefix(), command=self.argv(image_config))
        elif self.entrypoint is not None:
            kwargs["entrypoint"] = self.entrypoint
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        if self.network_mode:
            kwargs["network_mode"] = self.network_mode
        else:
            kwargs.update(network=self.network, hostname=self.hostname,
                          networking_config={self.network: client.api.create_endpoint_config(aliases=self.aliases)},
                          ports={port: tuple(binding) for port, binding in self.ports.items()})
        if self.gpus:
            kwargs["device_requests"] = [DeviceRequest(count=self.gpus, capabilities=[["gpu"]])]
        mounts = []
        for mount in self.mounts:
            options = dict(target=mount["target"], source=mount.get("source"), type=mount["type"],
                           read_only=mount.get("read_only", False))
            if mount["type"] == "tmpfs":
                options.update(source=None, tmpfs_size=mount.get("tmpfs_size"))
            if mount["type"] == "volume" and "driver_opts" in mount:
                options.update(labels=mount["labels"], driver_config=DriverConfig("local", mount["driver_opts"]))
            elif mount["type"] == "volume":
                options.update(labels=mount.get("labels"), no_copy=mount.get("no_copy", False))
            mounts.append(Mount(**options))
        if mounts:
            kwargs["mounts"] = mounts
        return kwargs


@dataclass
class DockerPlan:
    experiment: str
    network: dict
    containers: list
    ports: dict
    builds: list = field(default_factory=list)
    not_applied: list = field(default_factory=list)   # declared settings Docker does not apply, and why

    def to_dict(self):
        return asdict(self)

    def process_meanings(self):
        """key -> :class:`ProcessMeaning`, read back from the container configs (holders aside)."""
        meanings = {}
        for container in self.containers:
            if container.labels.get(LABEL_ROLE) == "holder":
                continue
            resources = {"requests": {}, "limits": {}}
            if "nano_cpus" in container.resources:
                resources["limits"]["cpu"] = container.resources["nano_cpus"] / 1e9
            if "mem_limit" in container.resources:
                resources["limits"]["memory"] = float(container.resources["mem_limit"])
            if "cpu_shares" in container.resources:
                resources["requests"]["cpu"] = container.resources["cpu_shares"] / 1024
            if "mem_reservation" in container.resources:
                resources["requests"]["memory"] = float(container.resources["mem_reservation"])
            if container.gpus:
                resources["limits"]["gpu"] = resources["requests"]["gpu"] = float(container.gpus)
            meanings[container.key] = ProcessMeaning(
                argv=list(container.entrypoint or []) + list(container.command),
                keeps_image_entrypoint=container.entrypoint is None, env=dict(container.environment),
                cwd=container.working_dir, image=container.image,
                resources={kind: amounts for kind, amounts in resources.items() if amounts},
                restart_policy=_POLICY_NAMES[container.restart_policy["Name"]],
                mounts=sorted((m["target"], bool(m.get("read_only"))) for m in container.mounts
                              if not m["target"].startswith(CONTAINER_SECRETS_DIR + "/")
                              and m["target"] not in (tools.TOOLS_DIR, tools.STATE_DIR)),
                labels={k: v for k, v in container.labels.items() if k not in RESERVED_LABELS and k != LABEL_CHECKS})
        return meanings

    def render(self):
        """What ``apply`` creates, as YAML a person can read (``launch --dry-run``)."""
        document = {"experiment": self.experiment, "network": self.network,
                    "ports": dict(sorted(self.ports.items()))}
        if self.builds:
            document["images to build"] = self.builds
        document["containers"] = {c.container_name: {k: v for k, v in asdict(c).items()
                                                      if v not in (None, {}, [], 0) and k != "container_name"}
                                  for c in self.containers}
        import yaml  # only a dry run prints YAML: `symphony p` on Docker loads none
        notes = "".join(f"# {note}\n" for note in self.not_applied)
        return f"# docker experiment {self.experiment!r}: {len(self.containers)} containers\n" + notes + \
            yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)


def network_name(experiment):
    return f"symphony-{experiment}"


def container_name(experiment, key):
    # names are DNS labels, so '.' separates experiment, group and process unambiguously
    return f"{experiment}.{key.replace('/', '.')}"


def build_plan(exp, *, images=None, builds=(), cluster_preamble=(), internal=False, restart_backoff=1.0,
               busybox=None):
    """Resolve ``exp`` and write every process as a :class:`ContainerPlan`.

    ``images`` maps process keys to the tag built for them (build on launch). A process that may
    restart (OnFailure, Always) runs under Symphony's restart runner (:mod:`.tools`), with
    ``restart_backoff`` as on the host backends, when ``busybox`` (a :class:`tools.Busybox`) is
    given; without one Docker's engine restarts it, and the plan says so.
    """
    target = Target(capabilities=DOCKER, shell=SHELL, cluster_preamble=cluster_preamble, images=images or {})
    resolved = resolve(exp, ContainerAddressing(host_for=lambda service, process: process.pod_name), target)
    secrets = [{"type": "bind", "source": path, "target": f"{CONTAINER_SECRETS_DIR}/{key}", "read_only": True}
               for key, path in resolved.secrets]
    network = network_name(exp.name)
    pods = {pod.name: pod for pod in resolved.pods}
    containers = []
    holders = {}
    engine_restarts = []
    for process in resolved.processes:
        pod = pods[process.pod]
        labels = {**pod.labels, LABEL_EXPERIMENT: exp.name, LABEL_PROCESS: process.key,
                  LABEL_POSITION: str(process.position)}
        argv = process.argv
        plan = ContainerPlan(
            key=process.key, group=process.group, name=process.name,
            container_name=container_name(exp.name, process.key), image=process.image,
            entrypoint=None if process.launch.keeps_image_entrypoint else argv[:1],
            command=argv if process.launch.keeps_image_entrypoint else argv[1:],
            environment=process.env, working_dir=process.cwd, labels=labels,
            restart_policy=dict(RESTART_POLICIES[process.restart_policy]),
            pull_policy=process.pull_policy or "IfNotPresent",
            resources=_resources(process.resources), gpus=int(process.resources["limits"].get("gpu", 0)),
            mounts=_mounts(exp.name, process.mounts) + [dict(secret) for secret in secrets])
        plan.checks = [check.to_dict() for check in process.checks]
        plan.waits = [wait.to_dict() for wait in process.waits]
        declared = [{"service": c.service, "kind": c.kind, "port": c.port, "path": c.path, "timeout": c.timeout}
                    for c in process.checks if c.declared]
        if declared:
            plan.labels[LABEL_CHECKS] = json.dumps(declared, sort_keys=True, separators=(",", ":"))
        if plan.waits and busybox is None:
            raise LaunchError(waits_refusal(process.key))
        if plan.waits and process.restart_policy == "Never":
            plan.mounts += tools.runner_mounts(busybox, exp.name, {LABEL_EXPERIMENT: exp.name})
        if process.restart_policy != "Never" and busybox is not None:
            plan.runner = tools.runner_entrypoint(process.restart_policy, restart_backoff, plan.container_name)
            plan.mounts += tools.runner_mounts(busybox, exp.name, {LABEL_EXPERIMENT: exp.name})
        elif process.restart_policy != "Never":
            engine_restarts.append(process.key)
        if pod.group is None:
            plan.network, plan.aliases, plan.hostname = network, [process.name], process.name
            publisher = plan
        else:
            publisher = holders.get(pod.group)
            if publisher is None:
                publisher = holders[pod.group] = _holder(exp.name, pod, network)
            plan.network_mode = f"container:{publisher.container_name}"
        for service, port in process.exposed.items():
            if not internal:  # Docker publishes no port of a container on an internal network
                publisher.ports[f"{port}/tcp"] = ["127.0.0.1", None]
            exposed = json.loads(publisher.labels.get(LABEL_EXPOSES, "{}"))
            exposed[service] = port
            publisher.labels[LABEL_EXPOSES] = json.dumps(exposed, sort_keys=True)
        containers.append(plan)
    return DockerPlan(
        experiment=exp.name,
        network={"name": network, "driver": "bridge", "internal": bool(internal),
                 "labels": {LABEL_EXPERIMENT: exp.name}},
        containers=list(holders.values()) + containers, ports=resolved.ports(), builds=list(builds),
        not_applied=resolved.not_applied + ([engine_restart_note(engine_restarts)] if engine_restarts else []))


def waits_refusal(key, why=None):
    """Why a process that waits for services cannot launch (Symphony's tools cannot run), in one line."""
    return (f"process {key!r} waits for services (wait=True), which on Docker Symphony's own busybox holds in its "
            f"container: {why or tools.missing_busybox_reason()}")


def engine_restart_note(keys):
    """What the plan says of processes the engine restarts (no runner could be used)."""
    return (f"restart_backoff: not applied to {', '.join(keys)}: {tools.missing_busybox_reason()}, so the Docker "
            f"engine restarts them with its own back-off (0.1 s doubling to 1 minute), and later under load")


def _holder(experiment, pod, network):
    """The container that owns a group's network namespace. It runs Symphony's own image (made on
    the engine at launch, never pulled: :mod:`symphony.docker.holder`), whatever the members' contain.
    Its policy is ``always``: a dockerd that starts again after a crash stops it and must start it
    again (it would not restart an ``unless-stopped`` one, counting its own stop as a manual one)."""
    return ContainerPlan(
        key=pod.name, group=pod.name, name="", container_name=container_name(experiment, pod.name),
        image=HOLDER_IMAGE, entrypoint=list(HOLDER_ENTRYPOINT), command=list(HOLDER_COMMAND), environment={},
        working_dir=None, labels={**pod.labels, LABEL_EXPERIMENT: experiment, LABEL_ROLE: "holder"},
        restart_policy={"Name": "always"}, pull_policy="Never",
        # each member is also reachable as <group>--<process>, the host names the original
        # Symphony's Docker backend gave group members (compose-style)
        network=network, aliases=[pod.name, *(f"{pod.name}--{process.name}" for process in pod.processes)],
        hostname=pod.name)


def _resources(resources):
    """Requests and limits in Docker's terms: limits are hard caps, requests reservations/weights."""
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    docker = {}
    if "cpu" in limits:
        docker["nano_cpus"] = int(quantities.cpu_cores(limits["cpu"]) * 1e9)
    if "memory" in limits:
        docker["mem_limit"] = quantities.memory_bytes(limits["memory"])
    if "cpu" in requests:
        # Docker has no cpu reservation; cpu_shares is the relative weight under contention (1024 = 1 core)
        docker["cpu_shares"] = max(2, int(quantities.cpu_cores(requests["cpu"]) * 1024))
    if "memory" in requests:
        docker["mem_reservation"] = quantities.memory_bytes(requests["memory"])
    return docker


def _mounts(experiment, declared):
    """The model's mounts as Docker mounts (Secret and raw volumes were refused by the resolver)."""
    mounts = []
    for mount in declared:
        (kind, options), = mount["volume"].items()
        target, read_only = mount["mount_path"], mount["read_only"]
        if kind == "host_path":
            mounts.append({"type": "bind", "source": os.path.abspath(os.path.expanduser(options["path"])),
                           "target": target, "read_only": read_only})
        elif kind == "empty_dir":
            size = options.get("size_limit")
            mounts.append({"type": "tmpfs", "target": target,
                           "tmpfs_size": quantities.memory_bytes(size) if size else None})
        elif kind == "nfs":
            export = f"{options['server']}:{options['path']}"
            mounts.append({"type": "volume", "target": target, "read_only": read_only,
                           "source": f"symphony-{experiment}-nfs-{hashlib.sha1(export.encode()).hexdigest()[:10]}",
                           "labels": {LABEL_EXPERIMENT: experiment},
                           "driver_opts": {"type": "nfs", "o": f"addr={options['server']}",
                                           "device": f":{options['path']}"}})
    return mounts
