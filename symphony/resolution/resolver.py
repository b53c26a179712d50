"""``resolve(exp, rule, target)``: the one step from the model to what every backend runs.

Each rule lives here once. A backend gives its addressing ``rule`` (which host and
port a service gets) and its :class:`Target` (its capabilities, shell, where secrets
appear, the images built for it, variables of its own); it gets back a
:class:`~symphony.resolution.resolved.ResolvedExperiment` and only translates it.
Every model-level check — nothing to run, image present and well-formed, ``cwd``,
labels, node selectors, tolerations, quantities, GPUs, argv size — is made here, the
same for every backend, before anything starts.
"""

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import SpecError
from ..spec.checks import tcp
from ..spec.commands import PreambleBeforeEntrypointError, launch_of, preamble_lines, user_env
from ..spec.images import check_image_reference
from ..spec.secrets import CONTAINER_SECRETS_DIR, SECRETS_DIR_VAR, secret_files
from .addresses import AddressBook, AddressingRule, resolve_addresses
from .capabilities import FEATURES, Capabilities, CapabilityError, Support
from .checks import (check_container_cwd, check_experiment_name, check_image, check_labels, check_mount_paths, check_reserved_labels,
                     check_toleration, gpu_amounts)
from .limits import SharedEnv, check_exec_size
from .resolved import ResolvedCheck, ResolvedExperiment, ResolvedPod, ResolvedProcess, ResolvedWait

if TYPE_CHECKING:
    from ..spec.model import ExperimentSpec, ProcessGroupSpec, ProcessSpec


@dataclass(frozen=True)
class Target:
    """What a backend tells the resolver about itself."""

    capabilities: Capabilities
    shell: str
    cluster_preamble: Sequence[str] = ()
    #: where processes find the experiment's secrets ($SYMPH_SECRETS_DIR)
    secrets_dir: str = CONTAINER_SECRETS_DIR
    #: process key -> the image built for it on launch
    images: Mapping[str, str] = field(default_factory=dict)
    #: variables of the backend's own (a run id), added before SYMPH_PROCESS
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: what every process also inherits (the launching environment, on this machine)
    inherited_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.capabilities.backend


class _Uses:
    """Which features the experiment uses, and where: refused ones fail at once, ignored ones are listed."""

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities
        self.ignored: Dict[str, List[str]] = {}

    def use(self, feature: str, owner: str, **details: str) -> None:
        support = self.capabilities.of(feature)
        if support is Support.APPLIED:
            return
        if support is Support.REFUSED:
            raise CapabilityError(self.capabilities.refusal(feature, owner, **details))
        owners = self.ignored.setdefault(feature, [])
        if owner not in owners:
            owners.append(owner)

    def notes(self) -> List[str]:
        lines = []
        for feature, owners in self.ignored.items():
            shown = ", ".join(owners[:5]) + (f" and {len(owners) - 5} more" if len(owners) > 5 else "")
            lines.append(f"{FEATURES[feature]} not applied ({shown}): {self.capabilities.reason(feature)}")
        return lines


def resolve(exp: "ExperimentSpec", rule: AddressingRule, target: Target) -> ResolvedExperiment:
    """Validate ``exp`` and make every decision a backend needs (see the module's docstring)."""
    exp.validate()
    check_experiment_name(exp.name)
    capabilities = target.capabilities
    uses = _Uses(capabilities)
    book = resolve_addresses(exp, rule)
    secrets = secret_files(exp)
    secrets_dir = target.secrets_dir if secrets else None
    symph_env = book.env()
    symph_env["SYMPH_EXPERIMENT"] = exp.name
    if secrets_dir is not None:
        symph_env[SECRETS_DIR_VAR] = secrets_dir
    symph_env.update(target.extra_env)
    ports = book.ports()
    cwd_here = os.getcwd()
    shared = SharedEnv({**target.inherited_env, **symph_env})

    units: List[Tuple[str, Optional["ProcessGroupSpec"], List["ProcessSpec"]]] = \
        [(process.name, None, [process]) for process in exp.list_processes()]
    units += [(group.name, group, group.list_processes()) for group in exp.list_process_groups()]
    pods, processes = [], []
    position = 0
    for order, (pod_name, group, members) in enumerate(units):
        owner: Union["ProcessGroupSpec", "ProcessSpec"] = group if group is not None else members[0]
        pod = _pod(pod_name, order, group, owner, uses)
        for process in members:
            resolved = _process(process, position, target, symph_env, shared, ports, bool(secrets), cwd_here, uses)
            resolved.checks = _checks(process, book, target.shell)
            pod.processes.append(resolved)
            processes.append(resolved)
            position += 1
        pods.append(pod)
    _waits(exp, processes, uses)
    return ResolvedExperiment(name=exp.name, backend=capabilities.backend, capabilities=capabilities,
                              addresses=book, pods=pods, processes=processes, secrets=secrets,
                              secrets_dir=secrets_dir, not_applied=uses.notes(), spec=exp)


def _pod(name: str, order: int, group: Optional["ProcessGroupSpec"],
         owner: Union["ProcessGroupSpec", "ProcessSpec"], uses: _Uses) -> ResolvedPod:
    """Pod-level settings of a group, or of a standalone process, checked for every engine."""
    what = f"process group {name!r}" if group is not None else f"process {name!r}"
    check_reserved_labels(name, owner.labels)
    check_labels(name, "label", owner.labels)
    check_labels(name, "node_selector", owner.node_selectors)
    for toleration in owner.tolerations:
        check_toleration(name, toleration)
    for feature in ("node_selectors", "tolerations", "image_pull_secrets", "pod_yml"):
        if getattr(owner, feature):
            uses.use(feature, what)
    return ResolvedPod(name=name, group=group.name if group is not None else None, position=order, processes=[],
                       restart_policy=owner._restart_policy, labels=dict(owner.labels),
                       node_selectors=dict(owner.node_selectors), tolerations=[dict(t) for t in owner.tolerations],
                       image_pull_secrets=list(owner.image_pull_secrets), pod_yml=owner.pod_yml)


def _process(process: "ProcessSpec", position: int, target: Target, symph_env: Mapping[str, str],
             shared: SharedEnv, ports: Mapping[str, int], with_secrets: bool, cwd_here: str,
             uses: _Uses) -> ResolvedProcess:
    key = process.key
    what = f"process {key!r}"
    capabilities = target.capabilities
    declared_image = process.container_image
    # in an image: on a backend that runs every process in one, or one that runs the image a process declares
    in_image = capabilities.runs_in_containers or bool(declared_image and capabilities.of("images") is Support.APPLIED)
    why = (f"the {target.backend} backend runs every process in an image" if capabilities.runs_in_containers
           else f"the {target.backend} backend runs a process that declares container_image= in that image")
    try:
        launch = launch_of(process, preamble_lines(process, target.cluster_preamble), target.shell,
                           in_image=in_image)
    except PreambleBeforeEntrypointError as exc:
        raise CapabilityError(f"{exc} ({why})") from None

    if declared_image:
        check_image_reference(declared_image, f"process {key!r}: container_image")  # a typo is one on every backend
        uses.use("images", what)
    if launch.runs_image_default:
        uses.use("image_default_command", what)
    elif launch.keeps_image_entrypoint:
        uses.use("image_entrypoint", what)
    image: Optional[str] = None
    if in_image:
        built = target.images.get(key)
        try:
            image = check_image(key, built or declared_image, target.backend)
        except SpecError as exc:
            raise (CapabilityError(str(exc)) if not (built or declared_image) else exc) from None
        try:
            cwd = check_container_cwd(key, process.cwd, why)
        except SpecError as exc:
            raise CapabilityError(str(exc)) from None
    else:
        cwd = os.path.abspath(os.path.expanduser(process.cwd or cwd_here))
        if not os.path.isdir(cwd):
            raise SpecError(f"process {key!r}: working directory {cwd} does not exist: create it or fix cwd=")

    env = user_env(process)
    own = {name: value for name, value in env.items() if name not in symph_env}  # (Symphony's variables win)
    own["SYMPH_PROCESS"] = key
    env.update(symph_env)
    env["SYMPH_PROCESS"] = key

    resources = gpu_amounts(key, process.effective_resources())
    for kind in ("cpu", "memory", "gpu"):
        if kind in resources["requests"] or kind in resources["limits"]:
            uses.use(kind, what)
    mounts = process.effective_mounts()
    for mount in mounts:
        (kind, options), = mount["volume"].items()
        uses.use(f"mount.{kind}", what, mount_path=mount["mount_path"], secret_name=str(options.get("secret_name")))
    check_mount_paths(key, [m["mount_path"] for m in mounts], CONTAINER_SECRETS_DIR if with_secrets else None)
    pull_policy = process.effective_pull_policy()
    if pull_policy:
        uses.use("pull_policy", what)
    overlays: List[Dict[str, Any]] = process.effective_container_yml()
    if overlays:
        uses.use("container_yml", what)

    check_exec_size(key, launch.argv, own, shared)  # its whole environment: the shared one, its own on top
    return ResolvedProcess(
        key=key, name=process.name, group=process.group.name if process.group is not None else "",
        pod=process.pod_name, position=position, launch=launch, env=env, cwd=cwd, image=image,
        pull_policy=pull_policy, resources=resources, mounts=mounts,
        bound={service: ports[service] for service in process.bound},
        exposed={service: ports[service] for service in process.exposed},
        container_yml=overlays, restart_policy=process.effective_restart_policy(), spec=process)


def _checks(process: "ProcessSpec", book: AddressBook, shell: str) -> List[ResolvedCheck]:
    """The readiness check of each service ``process`` provides, at its resolved address."""
    checks = []
    for service in [*process.bound, *process.exposed]:
        declared = process.readiness.get(service)
        check = declared if declared is not None else tcp()
        argv = tuple(check.argv)
        if check.kind == "command" and check.shell:
            argv = (shell, "-c", check.argv[0])
        address = book[service]
        checks.append(ResolvedCheck(service=service, kind=check.kind, host=address.host, port=address.port,
                                    path=check.path, argv=argv, interval=check.interval, timeout=check.timeout,
                                    failure_threshold=check.failure_threshold, declared=declared is not None))
    return checks


def _waits(exp: "ExperimentSpec", processes: List[ResolvedProcess], uses: _Uses) -> None:
    """Fill in what each process waits for: its provider's check, its deadline and deadline behaviour
    (the experiment is validated, so every waited service has a provider and no ring of waits exists)."""
    by_service = {check.service: (process, check) for process in processes for check in process.checks}
    for resolved in processes:
        for service, wait in resolved.spec.waits_for().items():
            provider, check = by_service[service]
            assert wait.timeout is not None and wait.on_timeout is not None  # waits_for() fills them in
            resolved.waits.append(ResolvedWait(service=service, provider=provider.key, check=check,
                                               timeout=wait.timeout, on_timeout=wait.on_timeout))
            if "start_order" in FEATURES:  # (the table gains it when backends start held processes)
                uses.use("start_order", f"process {resolved.key!r}")
        if resolved.checks and any(check.declared for check in resolved.checks) and "readiness_checks" in FEATURES:
            uses.use("readiness_checks", f"process {resolved.key!r}")
