"""Addresses of services, under their earlier import path; they live in :mod:`symphony.resolution.addresses`."""

from ..resolution.addresses import Address, AddressBook, ContainerAddressing, resolve_addresses


def resolve(exp, rule):
    """Validate ``exp`` and return its :class:`AddressBook` under ``rule`` (what
    :func:`symphony.resolution.resolve` computes among everything else a backend needs)."""
    exp.validate()
    return resolve_addresses(exp, rule)


__all__ = ["Address", "AddressBook", "ContainerAddressing", "resolve", "resolve_addresses"]
