"""Turning declared services into addresses (one resolver, one rule per backend)."""

from .resolver import Address, AddressBook, ContainerAddressing, resolve

__all__ = ["Address", "AddressBook", "ContainerAddressing", "resolve"]
