"""What the slurm backend would submit, read from its plan: no controller is contacted here."""

import os
import subprocess
import sys

import pytest

from symphony import Cluster
from symphony.errors import SpecError
from symphony.resolution import CapabilityError
from symphony.slurm.commands import gpu_count
from symphony.slurm.driver import _tasks_per_node

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def options(plan, index=0):
    return plan.components[index][1]


def test_resources_and_settings_become_sbatch_options_per_component():
    cluster = Cluster.new("slurm", partition="gpu", account="lab", qos="high", time="1-12", constraint="ib",
                          sbatch_args=["--exclusive"], containers=False)
    exp = cluster.new_experiment("res")
    learner = exp.new_process("learner", command="echo")
    learner.resource_request(cpu=1.5, mem="2G").resource_limit(gpu=2)
    agents = exp.new_process_group("agents")
    for index in range(2):
        agents.new_process(f"a{index}", command="echo").resource_limit(cpu=1, mem="100Mi")
    agents.node_selector("surreal-node", "agent")
    evaluator = exp.new_process("eval", command="echo")
    plan = cluster.plan(exp)

    # pods without a node selection are tasks of the first component, sized by the largest pod
    assert plan.components[0][0] == ["learner", "eval"]
    first = options(plan, 0)
    assert first[:5] == ["--job-name=symphony-res", "--ntasks=2", "--cpus-per-task=2", "--mem-per-cpu=954M",
                         "--gpus-per-task=2"]
    assert first[5:10] == ["--partition=gpu", "--account=lab", "--qos=high", "--time=1-12", "--constraint=ib"]
    assert "--no-requeue" in first and first[-1] == "--exclusive"
    # a node selector is a Slurm feature: another component, whose tasks need the feature
    assert plan.components[1][0] == ["agents"]
    second = options(plan, 1)
    assert second[:4] == ["--job-name=symphony-res", "--ntasks=1", "--cpus-per-task=2", "--mem-per-cpu=100M"]
    assert "--constraint=ib&agent" in second and "--exclusive" in second
    script = plan.batch_script()
    assert script.count("#SBATCH hetjob") == 1
    assert script.rstrip().endswith(f"exec {sys.executable} -m symphony.slurm.driver {plan.job_dir}")
    assert {p.key: p.component for p in plan.processes} == {"learner": 0, "eval": 0, "agents/a0": 1, "agents/a1": 1}
    assert evaluator.key == "eval"


def test_restart_policy_asks_slurm_to_requeue_and_is_kept_per_process():
    cluster = Cluster.new("slurm", containers=False)
    exp = cluster.new_experiment("rp")
    exp.new_process("a", command="echo").restart_policy("Always")
    exp.new_process("b", command="echo")
    plan = cluster.plan(exp)
    assert "--requeue" in options(plan)
    assert {p.key: p.restart_policy for p in plan.processes} == {"a": "Always", "b": "Never"}


def test_images_are_refused_in_one_line_without_container_support_and_run_by_srun_with_it():
    exp = Cluster.new("slurm").new_experiment("img")
    exp.new_process("p", command="echo", container_image="ubuntu:22.04")
    with pytest.raises(CapabilityError) as caught:
        Cluster.new("slurm", containers=False).plan(exp)
    assert str(caught.value).startswith("process 'p' declares a container image, but this Slurm cluster has no "
                                        "container support") and "\n" not in str(caught.value)
    plan = Cluster.new("slurm", containers=True).plan(exp)
    assert plan.processes[0].image == "ubuntu:22.04"
    assert "--container-image=ubuntu:22.04" in plan.render()


@pytest.mark.parametrize("good", ["90", "30:00", "1:30:00", "2-12", "2-12:30", "2-12:30:15", "UNLIMITED", 60])
def test_slurm_time_limits_are_accepted(good):
    assert Cluster.new("slurm", time=good, containers=False).settings["time"] == str(good)


@pytest.mark.parametrize("settings, message", [
    (dict(time="90m"), r"^time='90m' is not a Slurm time limit"),
    (dict(time="1:2:3:4"), r"^time='1:2:3:4' is not a Slurm time limit"),
    (dict(partition="two words"), r"^partition='two words' is not a Slurm partition name"),
    (dict(sbatch_args="--exclusive"), r"^sbatch_args must be a list of options"),
    (dict(sbatch_args=["exclusive"]), r"^sbatch_args: 'exclusive' is not an sbatch option"),
    (dict(constraint="a & b"), r"^constraint='a & b' is not a Slurm constraint"),
    (dict(grace=-1), r"^grace must be a number of seconds >= 0"),
])
def test_bad_settings_are_one_line_at_declaration_time(settings, message):
    with pytest.raises(SpecError, match=message) as caught:
        Cluster.new("slurm", **settings)
    assert "\n" not in str(caught.value)


def test_launch_dry_run_prints_the_batch_script_and_sbatch_command_and_creates_nothing(tmp_path):
    env = {**os.environ, "SYMPHONY_BACKEND": "slurm"}
    done = subprocess.run([sys.executable, "-m", "symphony.cli", "launch", "--dry-run",
                           os.path.join(REPO, "examples", "hello", "experiment.yml")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    home = os.environ["SYMPHONY_HOME"]
    job_dir = os.path.join(home, "slurm", "hello")
    assert f"# submitted as: sbatch --parsable {job_dir}/batch.sh" in done.stdout
    assert "#SBATCH --ntasks=3" in done.stdout and "#SBATCH --job-name=symphony-hello" in done.stdout
    assert "SYMPH_RING_0_HOST='<node of p0>'" in done.stdout
    assert "SYMPH_RING_0_ADDR='<node of p0>:<free port there>'" in done.stdout
    assert not os.path.exists(job_dir)


def test_slurm_s_compressed_layouts_are_read():
    assert _tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    assert _tasks_per_node("16,14") == [16, 14]
    assert gpu_count("gpu:a100:4(S:0-1),shard:8") == 4
    assert gpu_count("(null)") == 0
