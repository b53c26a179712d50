"""Where the examples run: which backends this machine has, and the image container backends use.

Shared by the conformance test (tests/test_examples.py) and bench/examples_table.py,
so both decide alike whether a backend is present and run an example the same way
(through ``examples/run.py``).

Container backends run the examples from one image, built by Symphony's own
:class:`symphony.addons.DockerBuilder` from ``tests/examples_support/Dockerfile``
with two context directories, the repository's ``examples/`` and ``caraml/``: the
examples are at ``/examples``, caraml is importable. For Kubernetes, build the same
image, push it where the cluster pulls from (or load it into kind/minikube) and name
it in ``SYMPHONY_TEST_IMAGE``::

    .venv/bin/python tests/examples_support/backends.py REGISTRY/symphony-examples:v1 --push
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

from symphony.errors import SymphonyError

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(TESTS_DIR)
EXAMPLES_DIR = os.path.join(REPO_ROOT, "examples")
DOCKERFILE = os.path.join(HERE, "Dockerfile")
EXAMPLES = ["hello", "mixed", "integration", "rl", "readiness"]

if os.path.join(TESTS_DIR, "docker") not in sys.path:
    sys.path.append(os.path.join(TESTS_DIR, "docker"))
import dockerhelpers  # noqa: E402  (tests/docker/dockerhelpers.py: leftovers(), docker_cluster())

#: what the Dockerfile builds FROM
BASE_IMAGE = dockerhelpers.BASE_IMAGE


def _load_runner():
    spec = importlib.util.spec_from_file_location("examples_run", os.path.join(EXAMPLES_DIR, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: examples/run.py: run(example, cluster, ...) launches, waits, checks the result and deletes;
#: container_location(example, image) says where the examples image holds an example
examples_run = _load_runner()
container_location = examples_run.container_location


class ExamplesSetupError(SymphonyError):
    """A backend's engine is there but what the examples need on it is not: a failure, not a skip."""


# --- the examples image ---------------------------------------------------------------
#: what examples/apex imports beyond numpy (the base image's Debian numpy): pure-Python
#: distributions, copied from this interpreter's site-packages, so the image builds offline
PURE_PYTHON_LIBRARIES = ["gymnasium", "cloudpickle", "farama_notifications", "typing_extensions"]


def pure_python_libraries(temp_directory):
    """A folder beside ``temp_directory`` holding copies of :data:`PURE_PYTHON_LIBRARIES` as installed here
    (the image's pylibs); :func:`build_examples_image` removes it after the build."""
    target = str(temp_directory).rstrip("/") + "-pylibs"  # beside the build context, not inside it
    os.makedirs(target, exist_ok=True)
    for name in PURE_PYTHON_LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ExamplesSetupError(f"{name} is not installed here, and the examples image copies it: "
                                     f"pip install gymnasium")
        if spec.submodule_search_locations:
            source = list(spec.submodule_search_locations)[0]
            shutil.copytree(source, os.path.join(target, name), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(spec.origin, target)
    return target


def build_examples_image(repository, tag, temp_directory, verbose=False):
    """Build the examples image with DockerBuilder and tag it ``repository:tag``; returns (builder, name).

    ``temp_directory`` holds the assembled build context; the caller removes it.
    The engine must hold the base image: a missing one is an :class:`ExamplesSetupError`,
    refused before a build that would try to pull it from a registry.
    """
    import docker
    from symphony.addons import DockerBuilder
    try:
        docker.from_env().images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        raise ExamplesSetupError(f"the Docker engine answers but lacks {BASE_IMAGE}, the examples image's base: "
                                 f"run .ci/docker-up as root to build it") from None
    pylibs = pure_python_libraries(temp_directory)
    builder = DockerBuilder(
        dockerfile=DOCKERFILE,
        context_directories=[{"name": "examples", "path": EXAMPLES_DIR, "force_update": True},
                             {"name": "caraml", "path": os.path.join(REPO_ROOT, "caraml"), "force_update": True},
                             {"name": "pylibs", "path": pylibs, "force_update": True}],
        temp_directory=temp_directory,
        verbose=verbose, name="examples")
    try:
        builder.build()
    finally:
        shutil.rmtree(pylibs, ignore_errors=True)
    return builder, builder.tag(repository, tag)


# --- which backends this machine has ----------------------------------------------------
def tmux_unavailable():
    """Why the tmux backend cannot run here, or None."""
    return None if shutil.which("tmux") else "tmux is not installed"


def stop_tmux_server(name):
    """Kill the private tmux server ``name`` and remove the socket file tmux leaves behind."""
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
    socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)
    if os.path.exists(socket):
        os.unlink(socket)


def docker_unavailable():
    """Why no Docker engine answers here, or None: the one reason to skip the Docker runs.

    An engine without the base image is not a reason to skip: :func:`build_examples_image`
    then fails with what to do.
    """
    try:
        import docker
        docker.from_env().ping()
    except Exception as exc:  # no SDK, no socket, engine down: all mean "no engine here"
        return f"no Docker engine reachable ({exc}); run .ci/docker-up as root"
    return None


#: the kubeconfig, resolved now: tests give every test its own $HOME, so ~ must not be expanded later
KUBECONFIG = os.path.expanduser(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")
KUBE_IMAGE = os.environ.get("SYMPHONY_TEST_IMAGE")


def kube_unavailable():
    """Why the Kubernetes runs are skipped, or None: only without SYMPHONY_TEST_KUBE=1, which says a cluster is there."""
    if os.environ.get("SYMPHONY_TEST_KUBE") != "1":
        return "the examples run on Kubernetes only with SYMPHONY_TEST_KUBE=1 and a kubeconfig"
    return None


def kube_setup_error():
    """With SYMPHONY_TEST_KUBE=1, what the examples lack to run on the cluster (a failure, not a skip), or None."""
    if not os.path.exists(KUBECONFIG):
        return (f"SYMPHONY_TEST_KUBE=1 but the kubeconfig {KUBECONFIG} does not exist: set KUBECONFIG "
                f"to the cluster's")
    if not KUBE_IMAGE:
        return ("SYMPHONY_TEST_KUBE=1 but SYMPHONY_TEST_IMAGE is not set: name an image the cluster can pull "
                "holding the examples at /examples ("
                "`.venv/bin/python tests/examples_support/backends.py REGISTRY/symphony-examples:v1 --push`)")
    return None


def kube_cluster():
    """The Kubernetes cluster of ``KUBECONFIG``; pods get one second to stop on delete."""
    from symphony import Cluster
    return Cluster.new("kube", kubeconfig=KUBECONFIG, grace=1)


def pull_if_not_present(exp):
    """``prepare`` for Kubernetes runs: an image loaded into kind/minikube, or tagged :latest,
    must not be pulled again (Kubernetes' default for :latest is Always)."""
    for process in exp.list_all_processes():
        process.image_pull_policy("IfNotPresent")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the examples image (and push it for a Kubernetes cluster).")
    parser.add_argument("image", help="repository:tag to build, e.g. registry.example.com/symphony-examples:v1")
    parser.add_argument("--push", action="store_true", help="push it to the repository's registry")
    args = parser.parse_args(argv)
    repository, _, tag = args.image.rpartition(":")
    if not repository or "/" in tag:
        parser.error(f"give the image as repository:tag, got {args.image!r}")
    try:
        with tempfile.TemporaryDirectory(prefix="symphony-examples-image-") as context:
            builder, image = build_examples_image(repository, tag, context, verbose=True)
            if args.push:
                builder.push(repository, tag)
    except SymphonyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
