"""examples/hello/experiment.yml is the twin of examples/hello/experiment.py, and it runs."""

import importlib.util
import json
import os
import re

import pytest

from symphony import Cluster
from symphony.cli.experiment_files import load_experiment_file

from clihelpers import REPO, wait_for

HELLO = os.path.join(REPO, "examples", "hello")


def hello_module():
    spec = importlib.util.spec_from_file_location("hello_experiment", os.path.join(HELLO, "experiment.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_yaml_twin_declares_what_build_declares():
    cluster = Cluster.new("local")
    from_yaml = load_experiment_file(os.path.join(HELLO, "experiment.yml"), cluster)
    from_python = hello_module().build(cluster, python="python3")
    assert from_yaml.to_dict() == from_python.to_dict()


def test_dry_runs_print_the_same_plan(run, tmp_path):
    python_file = tmp_path / "hello_python3.py"
    python_file.write_text(f"import sys\nsys.path.insert(0, {HELLO!r})\nimport experiment\n\n"
                           "def build(cluster):\n    return experiment.build(cluster, python='python3')\n")
    plans = []
    for path in (os.path.join(HELLO, "experiment.yml"), python_file):
        code, out, err = run("launch", "--dry-run", path)
        assert code == 0, err
        plans.append(re.sub(r"(=|127\.0\.0\.1:|on port )\d{4,5}\b", r"\1<port>", out))
    assert plans[0] == plans[1] and "python3 ring.py --index 2" in plans[0]


@pytest.mark.slow
def test_yaml_twin_runs_the_ring(run):
    code, _, err = run("launch", os.path.join(HELLO, "experiment.yml"))
    assert code == 0, err

    def finished():
        states = [p["state"] for p in json.loads(run("p", "-o", "json")[1])["processes"]]
        return all(state == "exited" for state in states)
    wait_for(finished, timeout=60)
    code, out, _ = run("p", "hello", "-o", "json")
    assert [p["exit_code"] for p in json.loads(out)["processes"]] == [0, 0, 0]
    logs = {f"p{i}": run("logs", f"p{i}")[1].splitlines() for i in range(3)}
    hello_module().check(logs)
    assert run("delete", "-f", "hello")[0] == 0
