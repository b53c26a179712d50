"""The cluster API's names for type annotations: :class:`Plan`, ``Since``, ``CopyEnd``, ``FaultHook``.

Apart from :mod:`symphony.cluster.base`, and loaded when first asked for (``from symphony.cluster
import Plan``), because they need :mod:`typing`, an import of milliseconds that ``symphony p``
otherwise does without.
"""

from typing import Any, Callable, Dict, Optional, Protocol, Tuple, Union, runtime_checkable

#: ``since`` of :meth:`Cluster.get_log`: seconds, or text such as '5m' (None: everything)
Since = Union[float, str, None]
#: one end of :meth:`Cluster.copy`: ``(process key, path)``, or ``(None, path)`` for this machine
CopyEnd = Tuple[Optional[str], str]
#: the failure-injection hook: ``fault_hook(step, detail)``
FaultHook = Callable[[str, Any], None]


@runtime_checkable
class Plan(Protocol):
    """What ``plan(exp)`` returns on every backend: printable (``launch(dry_run=True)`` prints
    :meth:`render`), and plain data (:meth:`to_dict`, e.g. for ``-o json`` or the state store)."""

    def render(self) -> str:
        """The plan as text, exactly what a dry run prints."""
        ...

    def to_dict(self) -> Dict[str, Any]:
        """The plan as plain data (JSON-serialisable)."""
        ...
