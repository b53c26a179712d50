"""``logs --follow`` on Docker keeps following a container its restart policy restarts, as local and tmux do."""

import threading

import pytest

from waiting import wait_for

from dockerhelpers import BASE_IMAGE

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUNS, LINES = 4, 12
# Each run prints numbered lines (half of them paced, as a program would), waits for its gate
# (a file the test creates) and then prints the other half in a burst right before it exits.
# Every run but the last fails, so OnFailure restarts it; the last succeeds, and the container
# ends for good. The run number survives restarts in the container's own filesystem.
FLAPPER = [
    "run=$(( $(cat /tmp/run 2>/dev/null || echo 0) + 1 )); echo $run > /tmp/run",
    'echo "$run starts" >&2; sleep 0.1',  # (stderr and stdout are read apart: let it be written first)
    f"i=1; while [ $i -le {LINES // 2} ]; do echo \"$run $i\"; i=$((i+1)); sleep 0.05; done",
    "while [ ! -e /gate/$run ]; do sleep 0.05; done",
    f"while [ $i -le {LINES} ]; do echo \"$run $i\"; i=$((i+1)); done",
    f'[ $run -ge {RUNS} ] && exit 0 || exit 1',
]
EXPECTED = [line for run in range(1, RUNS + 1)
            for line in [f"{run} starts"] + [f"{run} {i}" for i in range(1, LINES + 1)]]


def launch_flapper(cluster, name, gate):
    exp = cluster.new_experiment(name)
    exp.new_process("flapper", container_image=BASE_IMAGE, cmds=FLAPPER).restart_policy(
        "OnFailure").mount_host_path(str(gate), "/gate")
    cluster.launch(exp)


def open_gates(gate, runs):
    for run in runs:
        (gate / str(run)).touch()


def follow_in_background(lines):
    """Collect ``lines`` (a follow iterator) in a thread; the thread ends when the follow does."""
    collected = []
    thread = threading.Thread(target=lambda: collected.extend(line for line in lines), daemon=True)
    thread.start()
    return collected, thread


def test_follow_continues_across_restarts_with_every_line_once(cluster, new_name, tmp_path):
    name = new_name()
    open_gates(tmp_path, range(1, RUNS + 1))
    launch_flapper(cluster, name, tmp_path)
    collected, thread = follow_in_background(cluster.get_log(name, "flapper", follow=True))
    wait_for(lambda: not thread.is_alive(), timeout=60)
    assert collected == EXPECTED
    status = {s.key: s for s in cluster.describe_experiment(name)}["flapper"]
    assert (status.state, status.exit_code, status.restarts) == ("exited", 0, RUNS - 1)


def test_follow_from_now_joins_the_next_runs_without_repeating_older_lines(cluster, new_name, tmp_path):
    name = new_name()
    open_gates(tmp_path, [1])
    launch_flapper(cluster, name, tmp_path)
    wait_for(lambda: f"2 {LINES // 2}" in list(cluster.get_log(name, "flapper")), timeout=30)
    # run 2 waits at its gate: "now" is right after its line 6, whenever the follow reads
    lines = cluster.get_log(name, "flapper", follow=True, tail=0)
    open_gates(tmp_path, range(2, RUNS + 1))
    collected, thread = follow_in_background(lines)
    wait_for(lambda: not thread.is_alive(), timeout=60)
    assert collected == EXPECTED[EXPECTED.index(f"2 {LINES // 2 + 1}"):]


def test_follow_ends_when_the_container_is_deleted(cluster, new_name):
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("looper", container_image=BASE_IMAGE,
                    cmds=["echo started; sleep 0.3; exit 0"]).restart_policy("Always")
    cluster.launch(exp)
    collected, thread = follow_in_background(cluster.get_log(name, "looper", follow=True))
    wait_for(lambda: collected.count("started") >= 3, timeout=30)
    cluster.delete(name)
    wait_for(lambda: not thread.is_alive(), timeout=30)
    assert set(collected) == {"started"}
