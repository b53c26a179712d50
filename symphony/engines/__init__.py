"""What several packages share without importing one another.

* :mod:`symphony.engines.registry`: backend names -> cluster classes, read by
  :mod:`symphony.config` (to check a configured backend name) and by
  :class:`symphony.cluster.Cluster` (to build one), so neither imports the other's
  side and the registry imports no backend.
* :mod:`symphony.engines.docker_api`: the connection to a Docker engine, used by
  the Docker backend and by :mod:`symphony.addons` (image builds, also for
  Kubernetes) without either importing the other.

Importing this package imports nothing else.
"""
