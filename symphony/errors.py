"""Symphony's exception hierarchy.

Every error a *user* can cause derives from :class:`SymphonyError`; the CLI prints
such errors as one line and exits 1, so each message must name the fix. Errors
found while declaring an experiment are also :class:`ValueError` (``SpecError``),
so plain Python callers can catch them the way they catch any bad argument.
"""


class SymphonyError(Exception):
    """Base of every error caused by user input or by the state of a backend."""


class SpecError(SymphonyError, ValueError):
    """The experiment declaration is invalid; raised before anything starts."""


class InvalidNameError(SpecError):
    """A name cannot be used as a process, group, experiment or service name."""


class DuplicateNameError(SpecError):
    """Two processes or groups would end up with the same name."""


class ServiceConflictError(SpecError):
    """A service is bound (or exposed) by more than one process."""


class PortConflictError(SpecError):
    """Two services ask for the same fixed port, or a port is out of range."""


class UnboundServiceError(SpecError):
    """A process connects to a service that no process binds or exposes."""


class InvalidQuantityError(SpecError):
    """A cpu, memory or gpu amount is not a valid quantity."""


class PodLevelSettingError(SpecError):
    """A pod-level setting was applied to a process that belongs to a group."""


class UnknownBackendError(SpecError):
    """``Cluster.new`` was given a backend name that is not registered."""


class BackendSettingError(SpecError):
    """A backend was created with an invalid setting (a keyword argument of ``Cluster.new``)."""


class ExperimentExistsError(SymphonyError):
    """Launching an experiment whose name is already running (use force=True)."""


class ExperimentNotFoundError(SymphonyError):
    """No experiment of that name exists on the backend."""


class ProcessNotFoundError(SymphonyError):
    """No process of that name exists in the experiment."""


class LaunchError(SymphonyError):
    """Launching failed; everything the launch had started was stopped again."""


class PortUnavailableError(LaunchError):
    """A fixed port is already in use on this machine, or no free port is left."""


class BackendUnavailableError(SymphonyError):
    """The backend's engine (tmux, Docker, Kubernetes) cannot be reached or is missing."""


class StateError(SymphonyError):
    """The state directory cannot be used by this version of Symphony."""
