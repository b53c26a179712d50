"""Connecting to a Docker engine, shared by the Docker backend and the image builder.

The ``docker`` SDK is imported here, on first use, never at module import: the CLI
loads backends by name and must start fast on machines without Docker. Neither
:mod:`symphony.docker` nor :mod:`symphony.addons` owns this module, so the
Kubernetes backend can build images without importing the Docker backend.
"""

import functools

from ..errors import BackendUnavailableError, SymphonyError


def docker_sdk():
    """The ``docker`` package, or a one-line error naming the install command."""
    try:
        import docker
    except ImportError:
        raise SymphonyError("the Docker backend needs the docker package: pip install 'symphony[docker]'") from None
    return docker


def docker_client():
    """A client for the engine of ``DOCKER_HOST`` (or the local socket), checked to answer."""
    docker = docker_sdk()
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise BackendUnavailableError(_unreachable(exc)) from None
    client.api.send = _engine_gone_is_one_line(client.api.send)
    return client


def _unreachable(exc):
    return f"cannot reach the Docker engine ({exc}): start dockerd or point DOCKER_HOST at a running engine"


def _engine_gone_is_one_line(send):
    """Wrap the SDK's ``send``: an engine that goes away after the first contact (dockerd
    stopped or restarting) fails every later call with :class:`BackendUnavailableError`
    naming the fix, not with a ``requests`` traceback from deep inside the SDK."""
    import requests

    @functools.wraps(send)
    def send_or_explain(*args, **kwargs):
        try:
            return send(*args, **kwargs)
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # (a connection refused, or one the engine dropped in the middle of its answer)
            raise BackendUnavailableError(_unreachable(exc)) from None
    return send_or_explain
