"""The slurm backend's plan: one batch job per experiment, one task per pod, one step per process.

Why this shape: a pod (a process group, or a standalone process) must land on one node,
while different pods may land on different nodes. A Slurm *task* is exactly that: it runs on
one node, with its CPUs, memory and GPUs, and the tasks of a job spread over as many nodes as
the scheduler finds. So each pod is one task of the job, and each of its processes is one
``srun --overlap`` step on the pod's node, sharing the pod's resources.

Pods that select different nodes (their node selectors, Slurm features) cannot be tasks of
one homogeneous job, whose constraint holds for all its nodes: each distinct selection is one
component of a heterogeneous job (``#SBATCH hetjob``). Components never share nodes (Slurm
allocates them distinct nodes), which is why pods are not made one component each: thirty
pods on three nodes would then never start. Within a component every task gets the largest
pod's CPUs, memory and GPUs (Slurm's tasks of one component are alike).

Addresses cannot be known at submit time: the nodes are chosen when the job starts. So the
plan is made twice through the one resolver: here, at submit time, with the nodes left open
(every check runs, the dry run shows the script; service hosts and chosen ports read
``<node of POD>`` / ``<free port there>``), and by the driver (:mod:`symphony.slurm.driver`)
inside the allocation, with each pod's real node address and ports found free on that node
(:class:`NodeAddressing`).
"""

import json
import math
import os
import shlex
from dataclasses import dataclass, field, fields

from ..resolution import Target, resolve
from ..resolution.meaning import ProcessMeaning, normalized_resources
from ..spec import quantities
from .paths import log_path_for

#: the job name of every Symphony job: squeue shows which experiment it is
JOB_PREFIX = "symphony-"
PENDING_PORT = 0


@dataclass
class StepPlan:
    """One process: the step that runs it, in its pod's component."""

    key: str
    group: str
    name: str
    pod: str
    component: int
    argv: list
    cwd: str                      # None: the image's working directory (a process in an image)
    env: dict
    restart_policy: str
    log_path: str
    image: str = None
    resources: dict = None        # the declared (effective) resources, normalised
    bound: dict = field(default_factory=dict)
    exposed: dict = field(default_factory=dict)
    node: str = None              # the pod's node, once the job runs
    checks: list = field(default_factory=list)   # ResolvedCheck.to_dict() of each service it provides
    waits: list = field(default_factory=list)    # ResolvedWait.to_dict() of each service it is held for


@dataclass
class SlurmPlan:
    experiment: str
    job_dir: str
    python: str
    components: list               # [[[pod names], [sbatch options]]], in component order; a pod is one task
    processes: list = field(default_factory=list)
    addresses: dict = field(default_factory=dict)   # service -> [host, port]; hosts known once the job runs
    restart_backoff: float = 1.0
    grace: float = 5.0
    secrets: list = field(default_factory=list)
    secrets_dir: str = None
    not_applied: list = field(default_factory=list)

    # --- the batch script and how it is submitted ------------------------------------
    @property
    def script_path(self):
        return os.path.join(self.job_dir, "batch.sh")

    def sbatch_argv(self):
        return ["sbatch", "--parsable", self.script_path]

    def batch_script(self):
        """The exact script ``sbatch`` gets: each component's options, then the driver."""
        lines = ["#!/bin/bash", f"# Symphony experiment {self.experiment!r}: {len(self.processes)} processes "
                 f"in {len(self.components)} job component(s)"]
        for index, (pods, options) in enumerate(self.components):
            if index:
                lines.append("#SBATCH hetjob")
            lines.append(f"# component {index}: one task per pod: {', '.join(pods)}")
            lines += [f"#SBATCH {option}" for option in options]
        lines.append(f"exec {shlex.quote(self.python)} -m symphony.slurm.driver {shlex.quote(self.job_dir)}")
        return "\n".join(lines) + "\n"

    def render(self):
        lines = [f"# slurm experiment {self.experiment!r}: {len(self.processes)} processes, one job",
                 f"# submitted as: {shlex.join(self.sbatch_argv())}",
                 "# service hosts are the address of the node their binding process lands on, and ports not "
                 "declared are chosen free on that node, once the job starts"]
        lines += [f"# {note}" for note in self.not_applied]
        lines.append(f"# --- {self.script_path}")
        lines += self.batch_script().rstrip("\n").split("\n")
        lines.append("# --- steps the driver starts, one per process")
        for process in self.processes:
            lines.append(f"process {process.key}")
            het = f" --het-group={process.component}" if len(self.components) > 1 else ""
            lines.append(f"  step: srun --overlap{het} --nodelist=<node of {process.pod}> --ntasks=1 --nodes=1"
                         + (f" --container-image={process.image}" if process.image else ""))
            lines.append(f"  command: {shlex.join(process.argv)}")
            lines.append("  cwd: " + (process.cwd or "the image's working directory"))
            lines.append(f"  restart: {process.restart_policy}")
            lines.append(f"  log: {process.log_path}")
            for check in (check for check in process.checks if check["declared"]):  # (what `p` runs)
                lines.append(f"  ready: {check['service']} when {self._check_text(check)}, every {check['interval']:g}s")
            for wait in process.waits:
                lines.append(f"  waits for: {wait['service']} ({self._check_text(wait['check'], outside=True)}), "
                             f"at most {wait['timeout']:g}s, then {wait['on_timeout']}")
            lines.append("  env:")
            for name, value in sorted(process.env.items()):
                lines.append(f"    {name}={shlex.quote(self._shown(name, value))}")
        return "\n".join(lines)

    @staticmethod
    def _check_text(check, outside=False):
        port = str(check["port"]) if check["port"] != PENDING_PORT else "<free port there>"
        where = f"{check['host']}:{port}"
        if check["kind"] == "http":
            return f"GET http://{where}{check['path'] or '/'} answers 2xx/3xx"
        if check["kind"] == "command" and not outside:
            return f"{shlex.join(check['argv'])} exits 0 (run at `symphony p` as a connection to {where})"
        return f"{where} accepts a connection"

    def _shown(self, name, value):
        """An address variable as the dry run knows it: its node is not chosen yet."""
        for service, (host, port) in self.addresses.items():
            from ..spec.names import env_prefix
            prefix = env_prefix(service)
            port_text = str(port) if port != PENDING_PORT else "<free port there>"
            if name == f"{prefix}_PORT":
                return port_text
            if name == f"{prefix}_HOST":
                return host
            if name == f"{prefix}_ADDR":
                return f"{host}:{port_text}"
        return value

    def to_dict(self):
        data = dict(vars(self))
        data["processes"] = [dict(vars(process)) for process in self.processes]
        return data

    @classmethod
    def from_dict(cls, data):
        data = {name: value for name, value in data.items() if name in _PLAN_FIELDS}
        data["processes"] = [StepPlan(**p) for p in data["processes"]]
        return cls(**data)

    def save(self, path):
        with open(path + ".tmp", "w") as handle:
            json.dump(self.to_dict(), handle)
        os.replace(path + ".tmp", path)

    @classmethod
    def load(cls, path):
        with open(path) as handle:
            return cls.from_dict(json.load(handle))

    def process_meanings(self):
        return {process.key: ProcessMeaning(argv=list(process.argv), keeps_image_entrypoint=False,
                                            env=dict(process.env), cwd=process.cwd, image=process.image,
                                            resources=process.resources, restart_policy=process.restart_policy)
                for process in self.processes}


_PLAN_FIELDS = {f.name for f in fields(SlurmPlan)}


class PendingAddressing:
    """Addresses at submit time: each service's host is the node of its binding pod, not chosen yet."""

    bind_host = "0.0.0.0"  # other nodes reach the service through the node's address

    def host_for(self, service, process):
        return f"<node of {process.pod_name}>"

    def assign_ports(self, fixed, wanted):
        ports = dict(fixed)
        ports.update({name: PENDING_PORT for name in wanted})
        return ports


class NodeAddressing:
    """Addresses inside the allocation: the binding pod's node address, and ports found free on that node."""

    bind_host = "0.0.0.0"

    def __init__(self, pod_addresses, chosen_ports):
        self.pod_addresses = pod_addresses
        self.chosen_ports = chosen_ports

    def host_for(self, service, process):
        return self.pod_addresses[process.pod_name]

    def assign_ports(self, fixed, wanted):
        ports = dict(fixed)
        ports.update({name: self.chosen_ports[name] for name in wanted})
        return ports


def build_plan(exp, rule, *, capabilities, job_dir, python, settings, shell, cluster_preamble, inherited_env,
               restart_backoff, grace):
    """Resolve ``exp`` under ``rule`` and translate it: one job component per pod, one step per process.

    ``settings``: the cluster's sbatch settings (partition, account, time, qos, constraint, sbatch_args).
    """
    target = Target(capabilities=capabilities, shell=shell, cluster_preamble=cluster_preamble,
                    secrets_dir=os.path.join(job_dir, "secrets"), inherited_env=inherited_env)
    resolved = resolve(exp, rule, target)
    requeue = any(pod.restart_policy != "Never" for pod in resolved.pods)
    classes = {}  # node selection -> pods: one job component each
    for pod in resolved.pods:
        classes.setdefault(tuple(sorted(pod.node_selectors.items())), []).append(pod)
    components, processes = [], []
    for index, pods in enumerate(classes.values()):
        components.append([[pod.name for pod in pods],
                           component_options(exp.name, pods, settings, job_dir, first=index == 0, requeue=requeue)])
        for pod in pods:
            for process in pod.processes:
                processes.append(StepPlan(
                    key=process.key, group=process.group, name=process.name, pod=pod.name, component=index,
                    argv=process.argv, cwd=process.cwd, env=process.env, restart_policy=process.restart_policy,
                    log_path=log_path_for(job_dir, process.key), image=process.image,
                    resources=normalized_resources(process.resources), bound=dict(process.bound),
                    exposed=dict(process.exposed), checks=[check.to_dict() for check in process.checks],
                    waits=[wait.to_dict() for wait in process.waits]))
    addresses = {name: [resolved.addresses[name].host, resolved.addresses[name].port] for name in resolved.addresses}
    return SlurmPlan(experiment=exp.name, job_dir=job_dir, python=python, components=components,
                     processes=processes, addresses=addresses, restart_backoff=restart_backoff, grace=grace,
                     secrets=[[key, path] for key, path in resolved.secrets], secrets_dir=resolved.secrets_dir,
                     not_applied=resolved.not_applied)


def pod_amounts(pod):
    """What one pod's task asks for: the sum over the pod's processes (they share its node).

    A request is what the scheduler reserves; without one, the limit. CPUs are whole on Slurm
    (rounded up), memory in MiB (rounded up), GPUs are devices.
    """
    cpus, memory, gpus = 0.0, 0, 0
    for process in pod.processes:
        requests, limits = process.resources["requests"], process.resources["limits"]
        cpu = requests.get("cpu", limits.get("cpu"))
        if cpu is not None:
            cpus += quantities.cpu_cores(cpu)
        mem = limits.get("memory", requests.get("memory"))
        if mem is not None:
            memory += quantities.memory_bytes(mem)
        gpus += int(requests.get("gpu", 0) or 0)
    return (math.ceil(cpus - 1e-9) if cpus else None,
            math.ceil(memory / 2 ** 20) if memory else None,
            gpus or None)


def component_options(experiment, pods, settings, job_dir, first, requeue):
    """The sbatch options of the component whose tasks are ``pods`` (all with the same node selection)."""
    options = [f"--job-name={JOB_PREFIX}{experiment}", f"--ntasks={len(pods)}"]
    amounts = [pod_amounts(pod) for pod in pods]
    cpus = max((a[0] or 0 for a in amounts), default=0)
    memory = max((a[1] or 0 for a in amounts), default=0)
    gpus = max((a[2] or 0 for a in amounts), default=0)
    if cpus:
        options.append(f"--cpus-per-task={cpus}")
    if memory:  # Slurm has memory per node or per CPU; per CPU follows each task wherever it lands
        options.append(f"--mem-per-cpu={math.ceil(memory / (cpus or 1))}M")
    if gpus:
        options.append(f"--gpus-per-task={gpus}")
    for name in ("partition", "account", "qos", "time"):
        if settings.get(name):
            options.append(f"--{name}={settings[name]}")
    constraint = constraint_of(settings.get("constraint"), pods[0].node_selectors)
    if constraint:
        options.append(f"--constraint={constraint}")
    if first:
        options += [f"--output={os.path.join(job_dir, 'driver.log')}", "--open-mode=append",
                    f"--chdir={os.getcwd()}", "--requeue" if requeue else "--no-requeue"]
    options += list(settings.get("sbatch_args") or ())
    return options


def constraint_of(cluster_constraint, node_selectors):
    """The cluster's constraint and each node selector's value (a Slurm node feature), all required."""
    parts = [f"({cluster_constraint})" if cluster_constraint and "|" in cluster_constraint else cluster_constraint]
    parts += [str(value) for _, value in sorted(node_selectors.items())]
    return "&".join(part for part in parts if part)


def features_of(constraint):
    """The feature names a constraint expression mentions (``a&(b|c)*2`` -> a, b, c)."""
    import re
    return [word for word in re.split(r"[&|()\[\]!,]+|\*\d+", constraint or "") if word]
