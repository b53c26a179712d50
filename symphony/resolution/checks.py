"""Checks on values every engine receives, made once for all backends.

Labels, node selectors and tolerations follow Kubernetes' rules (the strictest engine),
so an experiment that launches on a laptop also launches on a cluster, and a typo is
refused when declared rather than by an API server half-way through a launch.
"""

import posixpath
import re
from typing import Dict, List, Mapping, Optional

from ..errors import SpecError
from ..spec.images import check_image_reference

_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
#: label keys Symphony writes itself: on Kubernetes every ``symphony/...`` key and the managed-by
#: label, on Docker these exact keys (``symphony.io/team`` and the like stay the user's)
RESERVED_LABEL_PREFIX = "symphony/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
RESERVED_LABELS = frozenset((MANAGED_BY_LABEL, "symphony.experiment", "symphony.process", "symphony.position",
                             "symphony.exposes", "symphony.role"))


def check_labels(owner: str, what: str, labels: Mapping[str, str]) -> None:
    """Label keys and values as the Kubernetes API server checks them."""
    for key, value in labels.items():
        prefix, _, label = key.rpartition("/")
        if not _LABEL_NAME.match(label) or (prefix and not _LABEL_PREFIX.match(prefix)):
            raise SpecError(f"{what} key {key!r} on {owner!r} is invalid: use up to 63 letters, digits, '-', '_' "
                            f"or '.', starting and ending with a letter or digit, optionally after 'domain/'")
        if value and not _LABEL_NAME.match(value):
            raise SpecError(f"{what} value {value!r} of {key!r} on {owner!r} is invalid: use up to 63 letters, "
                            f"digits, '-', '_' or '.', starting and ending with a letter or digit")


def check_reserved_labels(owner: str, labels: Mapping[str, str]) -> None:
    for key in labels:
        if key.startswith(RESERVED_LABEL_PREFIX) or key in RESERVED_LABELS:
            raise SpecError(f"label {key!r} on {owner!r} is reserved for Symphony's own bookkeeping: "
                            f"choose a key without the {RESERVED_LABEL_PREFIX!r} prefix")


def check_toleration(owner: str, toleration: Mapping[str, object]) -> None:
    operator, effect = toleration.get("operator"), toleration.get("effect")
    if operator is not None and operator not in TOLERATION_OPERATORS:
        raise SpecError(f"toleration operator {operator!r} on {owner!r} is invalid: use Exists or Equal")
    if effect not in (None, "") and effect not in TOLERATION_EFFECTS:
        raise SpecError(f"toleration effect {effect!r} on {owner!r} is invalid: use one of "
                        f"{', '.join(TOLERATION_EFFECTS)}")
    if operator == "Exists" and toleration.get("value"):
        raise SpecError(f"toleration on {owner!r} has operator Exists and a value: drop value= or use operator='Equal'")


def check_image(key: str, image: Optional[str], backend: str) -> str:
    """An image every container backend can be given: present and a valid reference."""
    if not image:
        raise SpecError(f"process {key!r} has no container image: give container_image='...' "
                        f"(or build_image='<docker build setting>'): the {backend} backend runs every process "
                        f"in an image")
    check_image_reference(image, f"process {key!r}: container_image")
    return image


def check_container_cwd(key: str, cwd: Optional[str], why: str) -> Optional[str]:
    """A working directory inside a container: absolute there (there is no 'current' directory to join).
    ``why`` says why the process runs in a container (on which backend)."""
    if cwd and not posixpath.isabs(cwd):
        raise SpecError(f"process {key!r}: cwd {cwd!r} is a directory inside the container "
                        f"and must be absolute there: give an absolute path such as "
                        f"{posixpath.normpath('/' + cwd.lstrip('~/'))!r} ({why})")
    return cwd


def gpu_amounts(key: str, resources: Dict[str, Dict[str, object]]) -> Dict[str, Dict[str, object]]:
    """GPUs are whole devices that are not shared: one number, both requested and limited (as
    Kubernetes defaults one from the other). A request and a limit that differ are refused."""
    requested, limited = resources["requests"].get("gpu"), resources["limits"].get("gpu")
    if requested is not None and limited is not None and limited != requested:
        raise SpecError(f"process {key!r} requests {requested} GPUs but limits them to {limited}: "
                        f"GPUs are whole devices, so every backend needs GPU request and limit equal; "
                        f"give only resource_limit(gpu=...)")
    count = requested if requested is not None else limited
    if count:
        resources["requests"]["gpu"] = resources["limits"]["gpu"] = count
    else:  # gpu=0 asks for none: the same as not asking
        resources["requests"].pop("gpu", None)
        resources["limits"].pop("gpu", None)
    return resources


def check_mount_paths(key: str, mount_paths: List[str], secrets_dir: Optional[str]) -> None:
    if secrets_dir is not None and secrets_dir in mount_paths:
        raise SpecError(f"process {key!r} mounts something at {secrets_dir}, where the "
                        f"experiment's secrets go: choose another mount_path")


def check_experiment_name(name: str) -> None:
    """Names Kubernetes keeps for itself, refused on every backend: an experiment's name is a
    DNS label so that the same experiment can become a namespace anywhere."""
    if name == "default" or name.startswith("kube-"):
        raise SpecError(f"experiment name {name!r} is reserved by Kubernetes (an experiment becomes a namespace "
                        f"there): choose another name, e.g. 'exp-{name}'")
