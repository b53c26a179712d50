"""Helpers shared by the Docker tests (the fixtures live in conftest.py)."""

import io
import os
import tarfile
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


#: the programs of :func:`import_shell_less_image`: each exits at once with its code (Linux's exit system call)
SHELL_LESS_EXITS = (0, 3)


def exit_program(architecture, code):
    """A static executable that exits with ``code`` (0-255), for ``architecture`` (the kernel's name)."""
    from symphony.docker.holder import elf_executable
    if architecture == "x86_64":  # mov edi, code; mov eax, 60 (exit); syscall
        return elf_executable(0x3E, bytes([0xBF]) + code.to_bytes(4, "little") + bytes.fromhex("b83c0000000f05"))
    if architecture == "aarch64":  # mov x0, #code; mov x8, #93 (exit); svc #0
        return elf_executable(0xB7, (0xD2800000 | code << 5).to_bytes(4, "little") + bytes.fromhex("a80b80d2010000d4"))
    return None


def import_shell_less_image(client):
    """Import an image holding only static programs, no shell, no libc, nothing else: ``/pause``
    (Symphony's holder program: waits for a signal) and ``/exit0``, ``/exit3`` (exit at once with
    that code); its name, or None for an engine of an architecture these programs are not written for.
    The name is fresh, so test runs sharing an engine do not remove each other's."""
    from symphony.docker.holder import holder_program, kernel_architecture
    architecture = kernel_architecture(client.version()["Arch"])
    if architecture is None:
        return None
    programs = {"pause": holder_program(architecture),
                **{f"exit{code}": exit_program(architecture, code) for code in SHELL_LESS_EXITS}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, program in programs.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(program), 0o755
            archive.addfile(info, io.BytesIO(program))
    repository = unique("symphony-test-noshell")
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag="1")
    return f"{repository}:1"
