"""Name rules shared by every backend.

Names end up as Kubernetes namespaces and pod names, Docker container names, tmux
session/window names, file names in the state directory and environment variable
names. The strictest of those is the DNS label (RFC 1123), so every name must be
one: that guarantees an experiment declared for the laptop also launches on a
cluster, and that no name can escape a directory or a tmux target.
"""

import re

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
