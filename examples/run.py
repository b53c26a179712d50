"""Run one of the examples on any backend, wait for it, check its result and print its logs.

    python examples/run.py hello [--backend local] [--keep] [--dry-run]
    python examples/run.py mixed --backend docker --image symphony-examples:v1

Each example's ``experiment.py`` defines ``build(cluster, image, workdir, python)``
(the single declaration, identical on every backend) and ``check(logs)`` (the
expected result, verified from the processes' logs). On top of that, every run
checks from the logs that process groups are honoured: each worker prints its
network namespace, the members of a group must share one, and on container
backends each standalone process and each group must have its own.

On local backends the workers run from this checkout with this interpreter. On
container backends they run from ``--image``, which must hold this folder at
``/examples`` with python3 and caraml (``tests/examples_support/backends.py``
builds it); ``--workdir`` and ``--python`` default to that layout.
"""

import argparse
import importlib.util
import inspect
import os
import posixpath
import sys
import time

from symphony import Cluster
from symphony.errors import SymphonyError

EXAMPLES = os.path.dirname(os.path.abspath(__file__))
FINAL = ("exited", "killed", "lost", "terminated")
#: backends that run every process in a container: their processes live in an image,
#: and each standalone process and each process group gets its own network namespace
CONTAINER_BACKENDS = ("docker", "kube")
#: where the examples image (tests/examples_support/Dockerfile) holds this folder
IMAGE_EXAMPLES_DIR = "/examples"
IMAGE_PYTHON = "python3"
#: what each worker prints once, followed by its network namespace
NAMESPACE_MARK = "network namespace: "


def load_example(name):
    path = os.path.join(EXAMPLES, name, "experiment.py")
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def container_location(example, image):
    """``build()``'s where-arguments to run ``example`` from ``image`` (the examples image).

    The working directory is the one the example's own ``build()`` uses on this
    host (its ``workdir`` default: ``mixed`` runs ``hello``'s ring.py), mapped into
    the image's ``/examples``.
    """
    host_dir = inspect.signature(load_example(example).build).parameters["workdir"].default
    relative = os.path.relpath(host_dir, EXAMPLES)
    if relative.startswith(os.pardir):
        raise ValueError(f"example {example!r} runs from {host_dir}, outside {EXAMPLES}: the image lacks it")
    return {"image": image, "workdir": posixpath.join(IMAGE_EXAMPLES_DIR, *relative.split(os.sep)),
            "python": IMAGE_PYTHON}


def check_network_namespaces(exp, logs, isolated):
    """Verify from the logs that the backend honoured ``exp``'s process groups.

    Every process must report its network namespace once; the members of a group
    must report the same one. With ``isolated`` (container backends) every pod — a
    standalone process or a whole group — must have a namespace of its own. On
    local backends everything shares the host's, which satisfies the first rule.
    """
    found = {}
    for process in exp.list_all_processes():
        reported = {line.split(NAMESPACE_MARK, 1)[1] for line in logs[process.key] if NAMESPACE_MARK in line}
        assert len(reported) == 1, f"{process.key} must report its network namespace once, reported {sorted(reported)}"
        found[process.key] = reported.pop()
    pods = {process.name: found[process.key] for process in exp.list_processes()}
    for group in exp.list_process_groups():
        members = {process.key: found[process.key] for process in group.list_processes()}
        assert len(set(members.values())) == 1, \
            f"the members of process group {group.name!r} are in different network namespaces: {members}"
        (pods[group.name],) = set(members.values())
    if isolated:
        holders = {}
        for pod, namespace in pods.items():
            holders.setdefault(namespace, []).append(pod)
        shared = [names for names in holders.values() if len(names) > 1]
        assert not shared, f"standalone processes and groups must not share a network namespace here: {shared}"


def wait_until_done(cluster, name, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = cluster.describe_experiment(name)
        if statuses and all(s.state in FINAL for s in statuses):
            return statuses
        time.sleep(0.25)
    unfinished = [f"{s.key}: {s.state_text()}" for s in statuses if s.state not in FINAL]
    raise TimeoutError(f"experiment {name!r} still running after {timeout:.0f}s ({', '.join(unfinished)})")


def run(example, cluster, timeout=300.0, keep=False, while_running=None, prepare=None, **where):
    """Launch ``example`` on ``cluster``, wait, check; return (statuses, logs, seconds).

    ``prepare(exp)`` is called on the declared experiment before the launch, for
    deployment choices that are not the example's business (e.g. the image pull
    policy a test cluster needs); ``while_running(cluster, experiment_name)`` is
    called right after the launch.
    """
    module = load_example(example)
    exp = module.build(cluster, **where)
    if prepare is not None:
        prepare(exp)
    start = time.monotonic()
    cluster.launch(exp, force=True)
    try:
        if while_running is not None:
            while_running(cluster, exp.name)
        statuses = wait_until_done(cluster, exp.name, timeout)
        elapsed = time.monotonic() - start
        logs = {s.key: list(cluster.get_log(exp.name, s.key)) for s in statuses}
        failed = [s for s in statuses if s.exit_code != 0]
        if failed:
            raise AssertionError(f"{', '.join(s.key + ': ' + s.state_text() for s in failed)}\n"
                                 + "\n".join(f"--- {k}\n" + "\n".join(v[-20:]) for k, v in logs.items()))
        module.check(logs)
        check_network_namespaces(exp, logs, isolated=cluster.backend_name in CONTAINER_BACKENDS)
        return statuses, logs, elapsed
    finally:
        if not keep:
            cluster.delete(exp.name)


class MissingImageError(SymphonyError):
    """A container backend was chosen without the image holding the examples."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", choices=sorted(d for d in os.listdir(EXAMPLES)
                                                  if os.path.isfile(os.path.join(EXAMPLES, d, "experiment.py"))))
    parser.add_argument("--backend", default="local")
    parser.add_argument("--image", help="container image holding this folder at /examples (container backends)")
    parser.add_argument("--workdir", help="the example's directory (default: this checkout's, or the image's)")
    parser.add_argument("--python", help=f"interpreter to run the workers with (default: this one, "
                                         f"or {IMAGE_PYTHON} in the image)")
    parser.add_argument("--keep", action="store_true", help="do not delete the experiment afterwards")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and start nothing")
    args = parser.parse_args(argv)
    try:
        cluster = Cluster.new(args.backend)
        where = {}
        if cluster.backend_name in CONTAINER_BACKENDS:
            if not args.image:
                raise MissingImageError(
                    f"the {cluster.backend_name} backend runs the examples from an image: pass --image, one holding "
                    f"this folder at {IMAGE_EXAMPLES_DIR} (`tests/examples_support/backends.py NAME:TAG` builds it)")
            where = container_location(args.example, args.image)
        elif args.image:
            where["image"] = args.image
        where.update({k: v for k, v in (("workdir", args.workdir), ("python", args.python)) if v})
        if args.dry_run:
            cluster.launch(load_example(args.example).build(cluster, **where), dry_run=True)
            return 0
        statuses, logs, elapsed = run(args.example, cluster, keep=args.keep, **where)
    except SymphonyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for status in statuses:
        print(f"--- {status.key}: {status.state_text()}")
        for line in logs[status.key]:
            print(f"    {line}")
    print(f"{args.example} on {cluster.backend_name}: result checked, {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
