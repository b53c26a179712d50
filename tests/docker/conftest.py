"""Fixtures for tests on a real Docker engine (started by .ci/docker-up).

Engine tests skip, with the reason, only when no engine answers or the base image
is missing. Every test uses fresh experiment names and image repositories and
removes everything it created, even when it fails.
"""

import pytest

from dockerhelpers import CI_STATE, docker_cluster, engine, import_shell_less_image, registry_address, unique


@pytest.fixture(scope="session")
def docker_client():
    client, reason = engine()
    if client is None:
        pytest.skip(reason)
    return client


@pytest.fixture(scope="session")
def registry(docker_client):
    address = registry_address()
    if not address:
        pytest.skip(f"no local registry: run .ci/docker-up (it writes {CI_STATE}) or set SYMPHONY_TEST_REGISTRY")
    return address


@pytest.fixture(scope="session")
def shell_less_image(docker_client):
    """An image with no shell, no libc, nothing but ``/pause``, ``/exit0`` and ``/exit3``
    (:func:`dockerhelpers.import_shell_less_image`); removed after the session."""
    image = import_shell_less_image(docker_client)
    if image is None:
        pytest.skip(f"no test programs for the engine's architecture {docker_client.version()['Arch']}")
    yield image
    docker_client.images.remove(image, force=True)


@pytest.fixture
def cluster(docker_client):
    return docker_cluster()


@pytest.fixture
def new_name(docker_client):
    """``new_name()`` -> a fresh experiment name; whatever carries it is removed after the test."""
    names = []

    def make():
        names.append(unique("t"))
        return names[-1]
    yield make
    for name in names:
        docker_cluster()._remove(name)


@pytest.fixture
def image_repos(docker_client):
    """Register image repositories a test creates; all their tags are removed afterwards."""
    repos = []
    yield repos
    for image in docker_client.images.list():
        for tag in image.tags:
            if any(tag.startswith(repo + ":") for repo in repos):
                docker_client.images.remove(tag, force=True)


@pytest.fixture
def image_tags(docker_client):
    """Register exact ``repo:tag`` images a test creates; only those are removed afterwards.

    For repositories others use too (a build setting's name such as ``cpu-image``),
    where removing every tag would take other people's images with it.
    """
    tags = []
    yield tags
    for tag in tags:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # never created: the test failed before
            pass


@pytest.fixture
def dangling_images_removed():
    """Remove untagged images a test leaves (e.g. the steps a failed build committed)."""
    docker_client, _ = engine()
    if docker_client is None:  # tests that need no engine still run
        yield
        return
    before = {image.id for image in docker_client.images.list(all=True)}
    yield
    for image in docker_client.images.list(all=True, filters={"dangling": True}):
        if image.id not in before:
            try:
                docker_client.images.remove(image.id, force=True)
            except Exception:  # already removed with a child image
                pass
