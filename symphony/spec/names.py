"""Name rules shared by every backend.

Names end up as Kubernetes namespaces and pod names, Docker container names, tmux
session/window names, file names in the state directory and environment variable
names. The strictest of those is the DNS label (RFC 1123), so every name must be
one: that guarantees an experiment declared for the laptop also launches on a
cluster, and that no name can escape a directory or a tmux target.
"""

from __future__ import annotations

import re
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Tuple

from ..errors import InvalidNameError
from .brief import brief

DNS_LABEL_MAX = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Services become Kubernetes Service names, which must start with a letter (RFC 1035).
_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def check_name(kind: str, name: object, max_length: int = DNS_LABEL_MAX) -> str:
    """Return ``name`` if it is a valid DNS label, else raise a one-line error."""
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} name must be a string, got {type(name).__name__} {brief(name)}")
    if not name:
        raise InvalidNameError(f"{kind} name is empty: use lowercase letters, digits and '-', e.g. 'learner-0'")
    if len(name) > max_length:
        raise InvalidNameError(
            f"{kind} name {brief(name)} is {len(name)} characters long: use at most {max_length}")
    if not _DNS_LABEL.fullmatch(name):
        raise InvalidNameError(
            f"{kind} name {brief(name)} is invalid: use lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit (a DNS label), e.g. {suggest_name(name)!r}")
    return name


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_SUBDOMAIN_MAX = 253


def check_subdomain(kind: str, name: object) -> str:
    """Names of objects that already exist on the cluster (Secrets) are DNS subdomains:
    dots allowed, up to 253 characters — e.g. ``docker.io-creds``."""
    if not isinstance(name, str) or not name or len(name) > DNS_SUBDOMAIN_MAX:
        return check_name(kind, name, DNS_SUBDOMAIN_MAX)  # the type, empty and length errors, worded once
    if not _DNS_SUBDOMAIN.fullmatch(name):
        raise InvalidNameError(
            f"{kind} name {brief(name)} is invalid: use lowercase letters, digits, '-' and '.', starting and ending "
            f"with a letter or digit (a DNS subdomain), e.g. {suggest_name(name)!r}")
    return name


def check_service_name(name: object) -> str:
    """Service names must also start with a letter, as Kubernetes Service names do."""
    if isinstance(name, str) and name and not _SERVICE_NAME.fullmatch(name) and _DNS_LABEL.fullmatch(name):
        raise InvalidNameError(
            f"service name {brief(name)} is invalid: it must start with a letter, e.g. {suggest_name('s-' + name)!r}")
    if isinstance(name, str) and name and not _DNS_LABEL.fullmatch(name):
        raise InvalidNameError(
            f"service name {brief(name)} is invalid: use lowercase letters, digits and '-', "
            f"starting with a letter (a DNS label), e.g. {suggest_name(name)!r}")
    return check_name("service", name)


def suggest_name(name: object) -> str:
    """A valid DNS label close to ``name``, for error messages."""
    label = re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")
    return label[:DNS_LABEL_MAX].strip("-") or "my-name"


def env_prefix(service: str) -> str:
    """``replay-server`` -> ``SYMPH_REPLAY_SERVER`` (the prefix of its _HOST/_PORT/_ADDR)."""
    return "SYMPH_" + service.upper().replace("-", "_")


_ORIGINAL_SEPARATORS = re.compile(r"[_. ]")


def original_name(kind: str, name: object) -> object:
    """``name`` as the original Symphony turned it into a DNS label: lowercase, with ``_``, ``.`` and
    spaces made ``-`` (its experiment names became Kubernetes namespaces). The change is printed on
    stderr in one line, since the experiment then runs under a name the user did not type; a name
    that is still no DNS label afterwards is left for :func:`check_name` to refuse."""
    if not isinstance(name, str):
        return name
    label = _ORIGINAL_SEPARATORS.sub("-", name.lower())
    if label != name and _DNS_LABEL.fullmatch(label) and len(label) <= DNS_LABEL_MAX:
        import sys
        print(f"note: {kind} name {name!r} becomes {label!r} (names are DNS labels: lowercase letters, "
              f"digits and '-')", file=sys.stderr)
        return label
    return name


# --- fuzzy lookup of names, shared by the command line and the Cluster API -------------
def candidate_tiers(query: str, names: "Iterable[str]", username: Optional[str] = None) -> List[List[str]]:
    """The tiers of ``names`` matching ``query``, best first; each tier is a list (maybe empty)."""
    names = list(names)
    prefixed = f"{username}-{query}" if username and not query.startswith(f"{username}-") else None
    return [
        [n for n in names if n == query],
        [n for n in names if n == prefixed],
        [n for n in names if n.startswith(query) and n != query],
        [n for n in names if n.endswith(query) and not n.startswith(query)],
        [n for n in names if query in n and not n.startswith(query) and not n.endswith(query)],
    ]


def best_candidates(query: str, names: "Iterable[str]", username: Optional[str] = None) -> Tuple[bool, List[str]]:
    """``(exact, candidates)``: the first non-empty tier, and whether it is an exact name."""
    for rank, tier in enumerate(candidate_tiers(query, names, username)):
        if tier:
            return rank < 2, tier
    return False, []
