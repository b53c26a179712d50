"""``AddressBook`` as the original Symphony built it by hand: ``add_entry`` and ``dump``."""

from typing import Any, Dict, Mapping, Optional

from ..resolution.addresses import Address
from ..resolution.addresses import AddressBook as _ResolvedAddressBook
from ..spec.names import env_prefix


class AddressBook(_ResolvedAddressBook):
    """Service addresses and the ``SYMPH_*`` variables they give every process.

    Today the resolver fills the address book of every launch; scripts that built one
    themselves (``AddressBook()``, ``add_entry(name, host, port)``, ``dump()``) get the same
    variables from it. ``AddressBook({'name': {'host': h, 'port': p}})`` reads the original's
    ``entries``; ``bind_host`` is where a server listens (0.0.0.0: every interface).
    """

    def __init__(self, entries: Optional[Mapping[str, Any]] = None, bind_host: str = "0.0.0.0") -> None:
        super().__init__({}, bind_host)
        for name, entry in (entries or {}).items():
            if isinstance(entry, Address):
                self.addresses[name] = entry
            else:
                self.add_entry(name, entry["host"], entry["port"])

    @property
    def entries(self) -> Dict[str, Dict[str, Any]]:
        """``{name: {'host': ..., 'port': ...}}``, the original's form."""
        return {name: {"host": a.host, "port": a.port} for name, a in self.addresses.items()}

    def add_entry(self, name: str, host: str, port: int) -> None:
        self.addresses[name] = Address(str(host), int(port))

    def dump(self) -> Dict[str, str]:
        """``SYMPH_<NAME>_HOST/_PORT/_ADDR`` of every entry (all strings: they are environment values)."""
        env = self.env()
        env.pop("SYMPH_BIND_HOST", None)
        return env

    def format_name(self, name: str) -> str:
        """``replay-server`` -> ``REPLAY_SERVER``, the middle of its variables' names."""
        return env_prefix(name)[len("SYMPH_"):]
