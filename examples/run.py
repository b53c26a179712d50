"""Run one of the examples on any backend, wait for it, check its result and show its logs.

    python examples/run.py hello [--backend local] [--keep] [--dry-run]
    python examples/run.py mixed --backend docker --image symphony-examples:latest --workdir /examples/mixed --python python3

Each example's ``experiment.py`` defines ``build(cluster, image, workdir, python)``
(the single declaration, identical on every backend) and ``check(logs)`` (the
expected result, verified from the processes' logs).
"""

import argparse
import importlib.util
import os
import sys
import time

from symphony import Cluster

EXAMPLES = os.path.dirname(os.path.abspath(__file__))
FINAL = ("exited", "killed", "lost", "terminated")


def load_example(name):
    path = os.path.join(EXAMPLES, name, "experiment.py")
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        return statuses, logs, elapsed
    finally:
        if not keep:
            cluster.delete(exp.name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", choices=sorted(d for d in os.listdir(EXAMPLES)
                                                  if os.path.isfile(os.path.join(EXAMPLES, d, "experiment.py"))))
    parser.add_argument("--backend", default="local")
    parser.add_argument("--image", help="container image holding the examples (container backends)")
    parser.add_argument("--workdir", help="the example's directory inside that image")
    parser.add_argument("--python", help="interpreter to run the workers with (default: this one)")
    parser.add_argument("--keep", action="store_true", help="do not delete the experiment afterwards")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and start nothing")
    args = parser.parse_args()

    cluster = Cluster.new(args.backend)
    where = {k: v for k, v in (("image", args.image), ("workdir", args.workdir), ("python", args.python)) if v}
    if args.dry_run:
        cluster.launch(load_example(args.example).build(cluster, **where), dry_run=True)
        return 0
    statuses, logs, elapsed = run(args.example, cluster, keep=args.keep, **where)
    for status in statuses:
        print(f"{status.key}: {status.state_text()}")
    print(f"{args.example} on {args.backend}: result checked, {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
