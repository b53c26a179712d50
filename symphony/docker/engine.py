"""The Docker engine connection, as the Docker backend imports it.

It lives in :mod:`symphony.engines.docker_api` (shared with :mod:`symphony.addons`,
which must not import a backend); this name is kept for code that imported it here.
"""

from ..engines.docker_api import docker_client, docker_sdk

__all__ = ["docker_client", "docker_sdk"]
