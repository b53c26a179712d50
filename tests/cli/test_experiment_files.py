"""`symphony launch FILE`: YAML/JSON files and Python files, their errors, and YAML == Python API."""

import json
import re
import textwrap

import pytest

from symphony import Cluster
from symphony.cli.experiment_files import load_experiment_file
from symphony.config import SymphonyConfig

from clihelpers import wait_for


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def masked_ports(plan_text):
    """A dry-run plan with the randomly chosen port numbers blanked out."""
    return re.sub(r"(=|127\.0\.0\.1:|on port )\d{4,5}\b", r"\1<port>", plan_text)


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symphony: error: ") and "Traceback" not in err, err
    return lines[0]


# --- Python files ---------------------------------------------------------------------
def test_python_file_defining_experiment(run, tmp_path):
    path = write(tmp_path / "exp_def.py", """
        from symphony import ExperimentSpec
        experiment = ExperimentSpec("defined")
        experiment.new_process("worker", cmds=["echo worker $SYMPH_EXPERIMENT", "sleep 60"])
        """)
    code, out, _ = run("launch", path, "--dry-run")
    assert code == 0 and "process worker" in out and "SYMPH_EXPERIMENT=defined" in out
    assert run("launch", path)[0] == 0
    assert run("ls")[1].split() == ["defined"]
    wait_for(lambda: run("logs", "worker")[1].strip() == "worker defined")


def test_python_file_with_build_gets_the_command_clusters(run, tmp_path):
    path = write(tmp_path / "exp_build.py", """
        import sys
        from helper import NAME          # a sibling module, importable as under `python exp_build.py`

        def build(cluster):
            exp = cluster.new_experiment(NAME)
            exp.new_process("backend-" + cluster.backend_name, command="sleep", args=["60"])
            return exp

        if __name__ == "__main__":       # not run by `symphony launch`
            sys.exit("should not run")
        """)
    write(tmp_path / "helper.py", "NAME = 'built'\n")
    code, _, err = run("launch", path)
    assert code == 0, err
    assert [row.split()[0] for row in run("p", "built")[1].splitlines()[1:]] == ["backend-local"]


@pytest.mark.parametrize("body, message", [
    ("x = 1\n", r"defines neither `experiment` \(an ExperimentSpec\) nor `build\(cluster\)`: add one of them"),
    ("def build(cluster):\n    return 42\n", r"build\(cluster\) returned int, not an ExperimentSpec"),
    ("def build(cluster):\n    x = 1\n    return 1 / 0\n", r"bad\.py:3: ZeroDivisionError: division by zero"),
    ("def build(cluster)\n    pass\n", r"bad\.py:1: syntax error: expected ':'"),
    ("import no_such_module_here\n", r"bad\.py:1: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("from symphony import Cluster\nc = Cluster.new('local')\nexperiment = c.new_experiment('x')\n"
     "experiment.new_process('p', 'sleep 60')\nc.launch(experiment)\n",
     r"calls cluster.launch\(\) while being loaded: move it under `if __name__ == '__main__':`"),
    ("from symphony import ExperimentSpec\nexperiment = ExperimentSpec('x')\n"
     "experiment.new_process('p', 'sleep 1').connects('nobody')\n",
     r"process 'p' connects to service 'nobody' but no process binds it"),
])
def test_python_file_mistakes(run, tmp_path, body, message):
    path = write(tmp_path / "bad.py", body)
    code, _, err = run("launch", path)
    assert code == 1
    assert re.search(message, one_line_error(err)), err
    assert run("ls")[1] == ""  # nothing was started


# --- YAML and JSON files --------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("name: bad\nprocesses:\n  a:\n    cmds: [sleep 1]\n    bindz: [x]\n",
     r"bad\.yml:5: processes\.a\.bindz: unknown key 'bindz' in process 'a'"),
    ("name: bad\nprocesses:\n  a:\n    cmds: [sleep 1]\n    connects: [db]\n",
     r"process 'a' connects to service 'db' but no process binds it"),
    ("name: Bad_Name\nprocesses:\n  a: {cmds: [sleep 1]}\n", r"bad\.yml:1: name: experiment name 'Bad_Name' is invalid"),
    ("name: bad\nprocesses:\n  a: {cmds: [sleep 1], restart_policy: sometimes}\n",
     r"bad\.yml:3: processes\.a\.restart_policy: unknown restart policy 'sometimes'"),
    ("name: bad\nprocesses: [\n", r"bad\.yml:3: invalid YAML"),
])
def test_yaml_mistakes_name_the_line(run, tmp_path, text, message):
    path = write(tmp_path / "bad.yml", text)
    code, _, err = run("launch", path, "--dry-run")
    assert code == 1
    assert re.search(message, one_line_error(err)), err


def test_unknown_file_type(run, tmp_path):
    path = write(tmp_path / "exp.toml", "name = 'x'\n")
    assert "use a .yml, .yaml, .json or .py experiment file" in one_line_error(run("launch", path)[2])


def test_relative_cwd_is_relative_to_the_file_and_username_applies(run, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "code").mkdir(parents=True)
    write(project / "exp.yml", """
        name: rel
        processes:
          p: {command: pwd, cwd: code}
        """)
    SymphonyConfig().set_username("sarah")
    exp = load_experiment_file(str(project / "exp.yml"), Cluster.new("local"))
    assert exp.name == "sarah-rel" and exp.get_process("p").cwd == str(project / "code")
    assert run("launch", project / "exp.yml")[0] == 0
    wait_for(lambda: run("logs", "p", "sarah-rel")[1].strip() == str(project / "code"))


@pytest.mark.parametrize("backend, cwd, host_path", [
    ("local", "{project}/code", "{project}/data"),   # both are paths of this machine
    ("docker", "code", "{project}/data"),            # cwd is inside the container; the mount's source is here
    ("kube", "code", "data"),                        # both live elsewhere: on the cluster's nodes
])
def test_relative_paths_of_this_machine_are_relative_to_the_file(tmp_path, backend, cwd, host_path):
    project = tmp_path / "project"
    project.mkdir()
    write(project / "exp.yml", """
        name: paths
        processes:
          p:
            command: pwd
            cwd: code
            container_image: img
            mounts: [{host_path: {path: data}, mount_path: /data}]
        """)
    exp = load_experiment_file(str(project / "exp.yml"), Cluster.new(backend))
    process = exp.get_process("p")
    assert process.cwd == cwd.format(project=project)
    assert process.mounts[0]["volume"]["host_path"]["path"] == host_path.format(project=project)


FULL_YAML = """
name: twin
preamble_cmds: [export FROM_EXPERIMENT=1]
env: {LEVEL: experiment}
processes:
  learner:
    command: sleep
    args: ["60"]
    env: {LEVEL: process, SEED: 7}
    binds: [replay-server, parameter-server]
    exposes: {tensorboard: null}
    restart_policy: OnFailure
    container_image: ubuntu:22.04
    resource_request: {cpu: 1.5, mem: 2G}
    resource_limit: {gpu: 1}
    node_selector: {surreal-node: nonagent}
    tolerations: [{key: surreal, operator: Exists, effect: NoExecute}]
groups:
  agents:
    preamble_cmds: [export IN_GROUP=1]
    env: {ROLE: agent}
    restart_policy: Always
    pod_yml: {spec: {hostNetwork: false}}
    processes:
      agent-0:
        cmds: ["echo agent $SYMPH_REPLAY_SERVER_ADDR", "sleep 60"]
        connects: [replay-server, parameter-server]
        container_yml: {stdin: true}
"""


def build_twin(cluster):
    """FULL_YAML, declared with the Python API."""
    exp = cluster.new_experiment("twin", preamble_cmds=["export FROM_EXPERIMENT=1"], env={"LEVEL": "experiment"})
    learner = exp.new_process("learner", command="sleep", args=["60"], container_image="ubuntu:22.04")
    learner.set_envs({"LEVEL": "process", "SEED": 7})
    learner.binds(["replay-server", "parameter-server"])
    learner.exposes("tensorboard")
    learner.restart_policy("OnFailure")
    learner.resource_request(cpu=1.5, mem="2G")
    learner.resource_limit(gpu=1)
    learner.node_selector(key="surreal-node", value="nonagent")
    learner.add_toleration(key="surreal", operator="Exists", effect="NoExecute")
    agents = exp.new_process_group("agents", preamble_cmds=["export IN_GROUP=1"])
    agents.set_env("ROLE", "agent")
    agents.restart_policy("Always")
    agents.pod_yml.update({"spec": {"hostNetwork": False}})
    agent = agents.new_process("agent-0", cmds=["echo agent $SYMPH_REPLAY_SERVER_ADDR", "sleep 60"])
    agent.connects(["replay-server", "parameter-server"])
    agent.container_yml.update({"stdin": True})
    return exp


def test_yaml_and_python_api_give_the_same_model_and_plan(run, tmp_path):
    yaml_path = write(tmp_path / "twin.yml", FULL_YAML)
    python_path = write(tmp_path / "twin.py", "from test_experiment_files import build_twin as build\n")
    json_path = tmp_path / "twin.json"
    json_path.write_text(json.dumps(build_twin(Cluster.new("local")).to_dict()))

    cluster = Cluster.new("local")
    from_yaml = load_experiment_file(str(yaml_path), cluster)
    assert from_yaml.to_dict() == build_twin(cluster).to_dict()
    assert load_experiment_file(str(json_path), cluster).to_dict() == from_yaml.to_dict()

    plans = {}
    for path in (yaml_path, python_path, json_path):
        code, out, err = run("launch", path, "--dry-run")
        assert code == 0, err
        plans[path.suffix] = masked_ports(out)
    assert plans[".yml"] == plans[".py"] == plans[".json"]
    assert "exec \"$@\"" in plans[".yml"] and "SYMPH_TENSORBOARD_PORT=<port>" in plans[".yml"]
    assert run("ls")[1] == ""  # dry runs start nothing
