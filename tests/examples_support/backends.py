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
import inspect
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(TESTS_DIR)
EXAMPLES_DIR = os.path.join(REPO_ROOT, "examples")
DOCKERFILE = os.path.join(HERE, "Dockerfile")
#: where the Dockerfile puts the examples folder inside the image
IMAGE_EXAMPLES_DIR = "/examples"
EXAMPLES = ["hello", "mixed", "integration", "rl"]

if os.path.join(TESTS_DIR, "docker") not in sys.path:
    sys.path.append(os.path.join(TESTS_DIR, "docker"))
import dockerhelpers  # noqa: E402  (tests/docker/dockerhelpers.py: engine(), leftovers(), docker_cluster())


def _load_runner():
    spec = importlib.util.spec_from_file_location("examples_run", os.path.join(EXAMPLES_DIR, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: examples/run.py: run(example, cluster, ...) launches, waits, checks the result and deletes
examples_run = _load_runner()


# --- the examples image ---------------------------------------------------------------
def build_examples_image(repository, tag, temp_directory=None, verbose=False):
    """Build the examples image with DockerBuilder and tag it ``repository:tag``; returns that name.

    ``temp_directory`` holds the assembled build context (a fresh one by default).
    """
    from symphony.addons import DockerBuilder
    builder = DockerBuilder(
        dockerfile=DOCKERFILE,
        context_directories=[{"name": "examples", "path": EXAMPLES_DIR, "force_update": True},
                             {"name": "caraml", "path": os.path.join(REPO_ROOT, "caraml"), "force_update": True}],
        temp_directory=temp_directory or tempfile.mkdtemp(prefix="symphony-examples-image-"),
        verbose=verbose, name="examples")
    builder.build()
    return builder, builder.tag(repository, tag)


def container_location(example, image):
    """``build()``'s where-arguments to run ``example`` from ``image``.

    The working directory is the one the example's own ``build()`` uses on this
    host (its ``workdir`` default: ``mixed`` runs ``hello``'s ring.py), mapped into
    the image's ``/examples``.
    """
    module = examples_run.load_example(example)
    host_dir = inspect.signature(module.build).parameters["workdir"].default
    relative = os.path.relpath(host_dir, EXAMPLES_DIR)
    if relative.startswith(os.pardir):
        raise ValueError(f"example {example!r} runs from {host_dir}, outside {EXAMPLES_DIR}: the image lacks it")
    return {"image": image, "workdir": posixpath.join(IMAGE_EXAMPLES_DIR, *relative.split(os.sep)),
            "python": "python3"}


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
    """Why the Docker backend cannot run here (no engine, or no base image), or None."""
    return dockerhelpers.engine()[1]


#: the kubeconfig, resolved now: tests give every test its own $HOME, so ~ must not be expanded later
KUBECONFIG = os.path.expanduser(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")
KUBE_IMAGE = os.environ.get("SYMPHONY_TEST_IMAGE")


def kube_unavailable():
    """Why the examples cannot run on Kubernetes here, or None."""
    if os.environ.get("SYMPHONY_TEST_KUBE") != "1":
        return "the examples run on Kubernetes only with SYMPHONY_TEST_KUBE=1 and a kubeconfig"
    if not os.path.exists(KUBECONFIG):
        return f"the examples on Kubernetes need a kubeconfig: {KUBECONFIG} does not exist (set KUBECONFIG)"
    if not KUBE_IMAGE:
        return ("the examples on Kubernetes need SYMPHONY_TEST_IMAGE: an image the cluster can pull holding "
                "the examples at /examples and caraml importable (tests/examples_support/backends.py builds it)")
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


def main():
    parser = argparse.ArgumentParser(description="Build the examples image (and push it for a Kubernetes cluster).")
    parser.add_argument("image", help="repository:tag to build, e.g. registry.example.com/symphony-examples:v1")
    parser.add_argument("--push", action="store_true", help="push it to the repository's registry")
    args = parser.parse_args()
    repository, _, tag = args.image.rpartition(":")
    if not repository or "/" in tag:
        parser.error(f"give the image as repository:tag, got {args.image!r}")
    builder, image = build_examples_image(repository, tag, verbose=True)
    if args.push:
        builder.push(repository, tag)
    print(image)


if __name__ == "__main__":
    main()
