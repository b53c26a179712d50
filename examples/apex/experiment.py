"""Ape-X on CartPole-v1: distributed DQN that learns, on any backend.

    python examples/apex/experiment.py                      # local, 2 agents, bar 475 in 10 min
    python examples/apex/experiment.py --backend tmux --agents 4
    python examples/apex/experiment.py --backend docker --image symphony-examples:v1
    python examples/apex/experiment.py --dry-run

The declaration (``build``) is the same on every backend; only where the code lives
differs (this checkout and this interpreter on local backends, the examples image's
``/examples/apex`` and its ``python3`` in containers). Agents come in process groups
of two (``agents-0`` holds ``agent-0`` and ``agent-1``), the learner, replay and
parameter server form the ``nonagent`` group, and the evaluator stands alone and
exposes the status page (``symphony visit status``).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: services: experience (agents -> replay), replay (learner <-> replay),
#: learner-parameters (learner -> ps), parameters (ps -> agents, evaluator, learner), control (evaluator -> ps)
RESULT_MARK = "evaluator: result "


def build(cluster, image=None, workdir=HERE, python=sys.executable, agents=2, bar=475.0, minutes=10.0,
          logdir="", name="apex", restart="OnFailure"):
    """The experiment: ``agents`` agents in groups of two, the nonagent group, the evaluator."""
    if agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")
    exp = cluster.new_experiment(name)

    def process(parent, process_name, *args):
        proc = parent.new_process(process_name, command=python, args=["roles.py", *map(str, args)],
                                  container_image=image, cwd=workdir, env={"PYTHONUNBUFFERED": "1"})
        return proc

    nonagent = exp.new_process_group("nonagent")
    nonagent.restart_policy(restart)
    process(nonagent, "replay", "replay").binds(["experience", "replay"])
    process(nonagent, "learner", "learner").binds("learner-parameters").connects(["replay", "parameters"])
    process(nonagent, "ps", "ps").binds(["parameters", "control"]).connects("learner-parameters")
    for pair in range(0, agents, 2):
        group = exp.new_process_group(f"agents-{pair // 2}")
        group.restart_policy(restart)
        for index in range(pair, min(pair + 2, agents)):
            process(group, f"agent-{index}", "agent", "--index", index, "--agents", agents) \
                .connects(["experience", "parameters"])
    evaluator_args = ["evaluator", "--bar", bar, "--minutes", minutes]
    if logdir:
        evaluator_args += ["--logdir", logdir]
    evaluator = process(exp, "evaluator", *evaluator_args)
    evaluator.exposes("status").connects(["parameters", "control"])
    evaluator.restart_policy("Never")  # its exit code is the run's verdict
    return exp


def result(logs):
    """The evaluator's verdict (a dict) from its log, or None if it gave none."""
    for line in logs.get("evaluator", []):
        if RESULT_MARK in line:
            return json.loads(line.split(RESULT_MARK, 1)[1])
    return None


def check(logs):
    """The run learned: the evaluator reports the bar reached over 100 episodes."""
    verdict = result(logs)
    assert verdict is not None, "the evaluator gave no result:\n" + "\n".join(logs.get("evaluator", [])[-20:])
    assert verdict["solved"], f"not solved: {verdict}"
    for key, lines in logs.items():
        if "/agent-" in key:
            assert any("stopped after" in line for line in lines), (key, lines[-5:])


def main(argv=None):
    sys.path.insert(0, os.path.dirname(HERE))
    from run import CONTAINER_BACKENDS, container_location, wait_until_done  # examples/run.py

    from symphony import Cluster
    from symphony.errors import SymphonyError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="local")
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--bar", type=float, default=475.0, help="mean return over 100 episodes that ends the run")
    parser.add_argument("--minutes", type=float, default=10.0, help="time allowed to reach the bar")
    parser.add_argument("--image", help="the examples image (container backends)")
    parser.add_argument("--logdir", default="", help="TensorBoard event log directory (seen by the evaluator)")
    parser.add_argument("--name", default="apex")
    parser.add_argument("--keep", action="store_true", help="leave the experiment for `symphony p` / `logs`")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and start nothing")
    args = parser.parse_args(argv)
    try:
        cluster = Cluster.new(args.backend)
        where = {}
        if cluster.backend_name in CONTAINER_BACKENDS:
            if not args.image:
                print(f"error: the {cluster.backend_name} backend runs the example from an image: pass --image",
                      file=sys.stderr)
                return 1
            where = container_location("apex", args.image)
        exp = build(cluster, agents=args.agents, bar=args.bar, minutes=args.minutes, logdir=args.logdir,
                    name=args.name, **where)
        if args.dry_run:
            cluster.launch(exp, dry_run=True)
            return 0
        started = time.monotonic()
        cluster.launch(exp, force=True)
        try:
            wait_until_done(cluster, exp.name, timeout=60 * args.minutes + 120)
            logs = {s.key: list(cluster.get_log(exp.name, s.key)) for s in cluster.describe_experiment(exp.name)}
        finally:
            if not args.keep:
                cluster.delete(exp.name)
    except SymphonyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verdict = result(logs)
    for line in logs.get("evaluator", []):
        print(line)
    print(f"apex on {cluster.backend_name} with {args.agents} agents: {verdict} ({time.monotonic() - started:.0f} s)")
    return 0 if verdict and verdict["solved"] else 1


if __name__ == "__main__":
    sys.exit(main())
