"""An RL-shaped topology like Surreal's: learner, replay, parameter server, agents,
an evaluator and an exposed HTTP dashboard, all talking through caraml.

Agents push experience to the replay (push/pull); the learner samples batches from
the replay (request/reply) and pushes each new parameter version to the parameter
server; agents, the evaluator and the dashboard fetch parameters from the
parameter server (request/reply). After ``steps`` versions everyone exits 0. The
dashboard serves the training progress as JSON over HTTP: ``symphony visit
dashboard -u`` prints its URL.

    python examples/run.py rl
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def build(cluster, image=None, workdir=HERE, python=sys.executable, agents=3, steps=30, name="rl"):
    exp = cluster.new_experiment(name)

    def process(parent, process_name, *args):
        return parent.new_process(process_name, command=python, args=["node.py", *map(str, args)],
                                  container_image=image, cwd=workdir)

    clients = agents + 2  # agents, evaluator, dashboard: the parameter server waits for all of them
    nonagent = exp.new_process_group("nonagent")
    replay = process(nonagent, "replay", "replay")
    replay.binds(["collector", "sampler"])
    learner = process(nonagent, "learner", "learner", "--steps", steps)
    learner.connects(["sampler", "parameter-publish"])
    ps = process(nonagent, "ps", "ps", "--clients", clients)
    ps.binds(["parameter-publish", "ps-frontend"])
    for i in range(agents):
        process(exp, f"agent-{i}", "agent", "--index", i).connects(["collector", "ps-frontend"])
    process(exp, "evaluator", "evaluator").connects("ps-frontend")
    dashboard = process(exp, "dashboard", "dashboard")
    dashboard.exposes("dashboard")
    dashboard.connects("ps-frontend")
    return exp


def check(logs, agents=3, steps=30):
    def said(key, text):
        assert any(line.startswith(text) for line in logs[key]), (key, text, logs[key][-10:])
    said("nonagent/learner", f"learner: finished {steps} steps")
    said("nonagent/ps", f"ps: served version {steps} to every client")
    said("nonagent/replay", "replay: stopped")
    for i in range(agents):
        said(f"agent-{i}", f"agent-{i}: done at version {steps}")
    said("evaluator", "evaluator: final score")
    said("dashboard", "dashboard: served")
