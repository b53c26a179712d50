"""What each backend can express of the model, declared as data.

A setting a backend cannot honour is never dropped without a word. Each backend
declares, per feature, one of three answers:

* ``APPLIED``: the engine does what the setting says;
* ``IGNORED``: the setting has no meaning there (a node selector on one machine with
  no scheduler, resource limits for plain processes that have no container around
  them). The experiment still launches — that is what lets one declaration run on a
  laptop and on a cluster — and the plan lists what was not applied, with the reason;
* ``REFUSED``: the engine would do something else than the declaration says (a
  Kubernetes Secret volume on Docker); the launch is refused in one line that names
  the backend and what to use instead.

The resolver (:func:`symphony.resolution.resolve`) consults these tables; backends
never decide it themselves.
"""

from __future__ import annotations

import enum
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional

from ..errors import SpecError


class Support(enum.Enum):
    APPLIED = "applied"
    IGNORED = "ignored"
    REFUSED = "refused"


class CapabilityError(SpecError):
    """The backend in use cannot express a declared setting (another backend can)."""


#: every feature a capability table answers for, and how a person names it
FEATURES: Mapping[str, str] = {
    "images": "container images",
    "image_default_command": "running an image's own default command",
    "image_entrypoint": "keeping an image's own entrypoint (args without command)",
    "cpu": "cpu requests and limits",
    "memory": "memory requests and limits",
    "gpu": "GPUs",
    "mount.nfs": "NFS mounts",
    "mount.host_path": "host-path mounts",
    "mount.empty_dir": "empty-dir mounts",
    "mount.secret": "Kubernetes Secret mounts",
    "mount.raw": "raw Kubernetes volumes",
    "node_selectors": "node selectors",
    "tolerations": "tolerations",
    "image_pull_secrets": "image pull secrets",
    "pull_policy": "image pull policies",
    "pod_yml": "pod_yml overrides",
    "container_yml": "container_yml overrides",
    "start_order": "holding processes until the services they wait for are ready",
    "readiness_checks": "declared readiness checks",
}


class Capabilities:
    """One backend's answers. ``reasons[feature]`` says why it is ignored or what to use instead.

    (A plain class: cluster classes name their capabilities at import, and ``symphony p``
    should not pay for ``dataclasses`` to start.)
    """

    def __init__(self, backend: str, runs_in_containers: bool, support: Mapping[str, Support],
                 reasons: Optional[Mapping[str, str]] = None, refusals: Optional[Mapping[str, str]] = None) -> None:
        #: processes run in containers (an image is required, ``cwd`` is a path inside it)
        self.backend = backend
        self.runs_in_containers = runs_in_containers
        self.support = dict(support)
        self.reasons = dict(reasons or {})
        #: refusals worded for the case (format fields: ``owner`` and what the resolver names, e.g. ``mount_path``)
        self.refusals = dict(refusals or {})
        unknown = set(self.support) - set(FEATURES)
        missing = set(FEATURES) - set(self.support)
        if unknown or missing:
            raise ValueError(f"capabilities of {self.backend!r}: unknown {sorted(unknown)}, missing {sorted(missing)}")

    def __repr__(self) -> str:
        return f"Capabilities({self.backend!r})"

    def of(self, feature: str) -> Support:
        return self.support[feature]

    def reason(self, feature: str) -> str:
        return self.reasons.get(feature, "")

    def refusal(self, feature: str, owner: str, **details: str) -> str:
        """The one-line refusal of ``feature`` used by ``owner``, naming this backend and the fix."""
        template = self.refusals.get(feature)
        if template is not None:
            return template.format(owner=owner, backend=self.backend, **details)
        return (f"{owner} uses {FEATURES[feature]}, which the {self.backend} backend cannot provide: "
                f"{self.reason(feature)}")


#: readiness is applied by every backend, whatever it does with the rest
_READINESS = ("start_order", "readiness_checks")


def _table(default: Support, **exceptions: Support) -> Dict[str, Support]:
    table = {feature: default for feature in FEATURES}
    table.update({feature: Support.APPLIED for feature in _READINESS})
    for name, support in exceptions.items():
        table[name.replace("__", ".")] = support
    return table


_NO_CONTAINERS = "processes run directly on this machine, with no container or scheduler around them"

#: plain processes on this machine: the local backend and tmux
HOST = Capabilities(
    backend="host",
    runs_in_containers=False,
    support=_table(Support.IGNORED, image_default_command=Support.REFUSED),
    reasons={feature: _NO_CONTAINERS for feature in FEATURES if feature not in _READINESS},
    refusals={
        "image_default_command": "{owner} declares only an image, whose own command the {backend} backend cannot "
                                 "run (it runs no images): give command= (and args=) to say what runs on this machine",
    },
)

#: containers on one Docker engine
DOCKER = Capabilities(
    backend="docker",
    runs_in_containers=True,
    support=_table(Support.APPLIED, mount__secret=Support.REFUSED, mount__raw=Support.REFUSED,
                   node_selectors=Support.IGNORED, tolerations=Support.IGNORED,
                   image_pull_secrets=Support.IGNORED, pod_yml=Support.IGNORED, container_yml=Support.IGNORED),
    reasons={
        "node_selectors": "one engine is one machine: there is no node to select",
        "tolerations": "one engine is one machine: there are no node taints",
        "image_pull_secrets": "the engine pulls with the credentials of `docker login`",
        "pod_yml": "it is a Kubernetes Pod manifest",
        "container_yml": "it is a Kubernetes container manifest",
    },
    refusals={
        "mount.secret": "{owner} mounts Kubernetes secret {secret_name!r}, which Docker cannot provide: "
                        "mount the files with mount_host_path() instead",
        "mount.raw": "{owner} mounts a raw Kubernetes volume at {mount_path}, which Docker cannot interpret: "
                     "use mount_host_path(), mount_empty_dir() or mount_nfs()",
    },
)

#: pods on a Kubernetes cluster: the strictest engine, the model follows its split
KUBERNETES = Capabilities(backend="kube", runs_in_containers=True,
                          support=_table(Support.APPLIED))


def with_backend(capabilities: Capabilities, backend: str) -> Capabilities:
    """The same answers under another backend's name (tmux and local share HOST's)."""
    return Capabilities(backend=backend, runs_in_containers=capabilities.runs_in_containers,
                        support=capabilities.support, reasons=capabilities.reasons, refusals=capabilities.refusals)


_NO_MANIFESTS = "it is a Kubernetes manifest; Slurm takes no such overrides"
_SLURM_REASONS = {
    "mount.nfs": "processes run directly on the nodes, whose file systems they see as they are",
    "mount.host_path": "processes run directly on the nodes, whose file systems they see as they are",
    "mount.empty_dir": "processes run directly on the nodes, whose file systems they see as they are",
    "tolerations": "Slurm nodes have no taints: select nodes with node_selector (a Slurm feature) instead",
    "image_pull_secrets": "the container runtime of the nodes pulls with its own credentials",
    "pull_policy": "the container runtime of the nodes decides when it pulls",
    "pod_yml": _NO_MANIFESTS,
    "container_yml": _NO_MANIFESTS,
    "images": "this Slurm cluster has no container support (no pyxis/enroot `--container-image`)",
}
_SLURM_REFUSALS = {
    "images": "{owner} declares a container image, but this Slurm cluster has no container support "
              "(srun has no --container-image: pyxis/enroot is not installed), so the {backend} backend "
              "cannot run it: remove container_image= to run the process directly on the nodes",
    "image_default_command": "{owner} declares only an image, whose own command the {backend} backend cannot "
                             "run (srun needs a program): give command= (and args=)",
    "image_entrypoint": "{owner} gives args without command, which keeps the image's entrypoint, but the {backend} "
                        "backend runs its own step runner in the image, which then runs the program: "
                        "give command= (the entrypoint's program) as well",
    "mount.secret": "{owner} mounts Kubernetes secret {secret_name!r}, which Slurm cannot provide: "
                    "use the experiment's secrets (SYMPH_SECRETS_DIR) instead",
    "mount.raw": "{owner} mounts a raw Kubernetes volume at {mount_path}, which Slurm cannot interpret",
}


def _slurm(images: Support) -> Capabilities:
    return Capabilities(
        backend="slurm",
        runs_in_containers=False,  # an image is optional: a process without one runs directly on its node
        support=_table(Support.APPLIED, images=images, image_default_command=Support.REFUSED,
                       image_entrypoint=Support.REFUSED,
                       mount__nfs=Support.IGNORED, mount__host_path=Support.IGNORED, mount__empty_dir=Support.IGNORED,
                       mount__secret=Support.REFUSED, mount__raw=Support.REFUSED, tolerations=Support.IGNORED,
                       image_pull_secrets=Support.IGNORED, pull_policy=Support.IGNORED, pod_yml=Support.IGNORED,
                       container_yml=Support.IGNORED),
        reasons=_SLURM_REASONS, refusals=_SLURM_REFUSALS)


#: a Slurm cluster without container support: an image is refused in one line
SLURM = _slurm(Support.REFUSED)
#: a Slurm cluster whose srun runs images (pyxis/enroot's --container-image)
SLURM_CONTAINERS = _slurm(Support.APPLIED)
