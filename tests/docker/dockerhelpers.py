"""Helpers shared by the Docker tests (the fixtures live in conftest.py)."""

import os
import uuid

BASE_IMAGE = "symphony-test-base:latest"
CI_STATE = os.environ.get("SYMPHONY_CI_DOCKER_STATE", "/tmp/symphony-ci-docker/state.env")


def engine():
    """(client, None) when an engine answers and has the base image, else (None, why not)."""
    try:
        import docker
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no SDK, no socket, engine down: all mean "no engine here"
        return None, f"no Docker engine reachable ({exc}); run .ci/docker-up as root"
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return None, f"the base image {BASE_IMAGE} is missing; run .ci/docker-up as root"
    return client, None


def registry_address():
    """``127.0.0.1:<port>`` of the registry .ci/docker-up started, or None."""
    address = os.environ.get("SYMPHONY_TEST_REGISTRY")
    if not address and os.path.exists(CI_STATE):
        with open(CI_STATE) as handle:
            for line in handle:
                if line.startswith("SYMPHONY_TEST_REGISTRY="):
                    address = line.split("=", 1)[1].strip()
    return address


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def leftovers(client, experiment):
    """Containers, networks and volumes still labelled with ``experiment``."""
    label = {"label": f"symphony.experiment={experiment}"}
    return (client.containers.list(all=True, filters=label) + client.networks.list(filters=label)
            + client.volumes.list(filters=label))


def docker_cluster(**kwargs):
    """A Docker cluster on internal networks (containers reach nothing outside the machine)."""
    from symphony import Cluster
    return Cluster.new("docker", internal_network=True, stop_timeout=1, **kwargs)
