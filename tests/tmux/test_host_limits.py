"""On both host backends (local, tmux), what execve would refuse is refused at plan time, by name.

Otherwise the local supervisor fails mid-launch with "Argument list too long" and a tmux
window just exits 1 with an empty log.
"""

import os
import sys

import pytest

from symphony import Cluster
from symphony.errors import SpecError
from symphony.host.plan import MAX_ARG_STRLEN
from symphony.status import ProcessState
from waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def host_cluster(request):
    if request.param == "tmux":
        return Cluster.new("tmux", server_name=request.getfixturevalue("server_name"), grace=1.0)
    return Cluster.new("local", grace=1.0)


def refused(cluster, **process):
    exp = cluster.new_experiment("big")
    exp.new_process("p", command=sys.executable, args=process.pop("args", ["-c", "pass"]), **process)
    with pytest.raises(SpecError, match="^process 'p': ") as error:
        cluster.launch(exp)
    assert cluster.list_experiments() == [], "nothing is recorded or started"
    return str(error.value)


def test_the_longest_string_the_kernel_takes_arrives_whole(host_cluster):
    value = "v" * (MAX_ARG_STRLEN - 1 - len("BIG="))  # NAME=value and its NUL: exactly the limit
    argument = "a" * (MAX_ARG_STRLEN - 1)
    exp = host_cluster.new_experiment("edge")
    exp.new_process("p", command=sys.executable, env={"BIG": value},
                    args=["-c", "import os, sys; print(len(os.environ['BIG']), len(sys.argv[1]))", argument])
    host_cluster.launch(exp)
    wait_for(lambda: host_cluster.describe_experiment("edge")[0].state == ProcessState.EXITED, timeout=60)
    assert host_cluster.describe_experiment("edge")[0].exit_code == 0
    assert list(host_cluster.get_log("edge", "p")) == [f"{len(value)} {len(argument)}"]
    host_cluster.delete("edge")


def test_one_variable_over_the_limit_is_named(host_cluster):
    message = refused(host_cluster, env={"HUGE_CONFIG": "x" * MAX_ARG_STRLEN})
    assert message.startswith("process 'p': environment variable HUGE_CONFIG (NAME=value) is ")
    assert "over the kernel's limit of 131071 bytes" in message and "in a file" in message


def test_one_argument_over_the_limit_is_named(host_cluster):
    message = refused(host_cluster, args=["-c", "pass", "--weights=" + "1," * MAX_ARG_STRLEN])
    assert message.startswith("process 'p': argument '--weights=1,1,1,") and "for one argument" in message


def test_everything_together_over_arg_max_is_refused(host_cluster):
    chunk = 100_000  # each variable fine alone
    env = {f"PART_{i}": "x" * chunk for i in range(os.sysconf("SC_ARG_MAX") // chunk + 1)}
    message = refused(host_cluster, env=env)
    assert f"over this system's limit of {os.sysconf('SC_ARG_MAX')} (ARG_MAX)" in message
    assert "largest variables PART_" in message
