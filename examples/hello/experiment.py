"""The hello example: three processes in a ring, exchanging numbered messages.

    python examples/hello/launch.py [--backend local] [--messages 5] [--dry-run]

Launches the experiment, waits until every process has exited, and prints each
process's status. Follow up with `symphony p`, `symphony logs p0` and
`symphony delete hello`.
"""

import argparse
import os
import sys
import time

from symphony import Cluster

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 3


def build(cluster, messages=5, name="hello", image=None, workdir=HERE):
    """The ring declared once; every backend runs this same declaration.

    ``image`` is used by container backends (it must contain ring.py in ``workdir``);
    local backends ignore it.
    """
    exp = cluster.new_experiment(name)
    for i in range(SIZE):
        member = exp.new_process(f"p{i}", command="python3", container_image=image, cwd=workdir,
                                 args=["ring.py", "--index", str(i), "--size", str(SIZE), "--messages", str(messages)])
        member.binds(f"ring-{i}")
        member.connects(f"ring-{(i + 1) % SIZE}")
    return exp


def wait_until_done(cluster, name, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = cluster.describe_experiment(name)
        if all(s.state in ("exited", "killed", "lost") for s in statuses):
            return statuses
        time.sleep(0.2)
    raise TimeoutError(f"experiment {name!r} still running after {timeout}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="local")
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--image", help="container image holding ring.py (container backends)")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--force", action="store_true", help="replace a running 'hello' experiment")
    args = parser.parse_args()

    cluster = Cluster.new(args.backend)
    exp = build(cluster, args.messages, image=args.image)
    cluster.launch(exp, force=args.force, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    statuses = wait_until_done(cluster, exp.name)
    for status in statuses:
        print(f"{status.key}: {status.state_text()}")
    return 0 if all(s.exit_code == 0 for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
