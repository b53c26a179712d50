"""Addresses of services: where the address book lives is :mod:`symphony.resolution.addresses`."""

from ..resolution.addresses import Address, AddressBook, ContainerAddressing, resolve_addresses

__all__ = ["Address", "AddressBook", "ContainerAddressing", "resolve_addresses"]
