"""``get_log`` / ``symphony logs [-f]`` on Kubernetes against the fake API server, whose
kubelet side (container instances, restarts, their logs) each test drives.

Following goes on across restarts (the next instance's log starts empty) and ends when the
container has ended for good; a container still being created is waited for.
"""

import io
import threading

import pytest

from symphony.errors import SymphonyError
from symphony.kube.logs import LogCursor, LogFollower, log_time

from waiting import wait_for

IMAGE = "python:3.11-slim"
WAIT = 30.0  # bound of every wait (a loaded machine imports the client slowly)


@pytest.fixture
def kube(api_cluster):
    return api_cluster


def launch(kube, policy="Never"):
    """Experiment ``exp`` with one process ``worker`` (its pod and container are ``worker``)."""
    exp = kube.new_experiment("exp")
    exp.new_process("worker", container_image=IMAGE, command="python", args=["work.py"]).restart_policy(policy)
    kube.launch(exp)


class Follower:
    """``get_log(follow=True)`` read in a thread, its lines collected."""

    def __init__(self, kube, process="worker", **options):
        self.lines, self.error = [], None
        self.thread = threading.Thread(target=self._run, args=(kube, process, options), daemon=True)
        self.thread.start()

    def _run(self, kube, process, options):
        try:
            for line in kube.get_log("exp", process, follow=True, **options):
                self.lines.append(line)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def has(self, count):
        """Wait until ``count`` lines arrived; return them all."""
        wait_for(lambda: len(self.lines) >= count or self.error, timeout=WAIT)
        assert self.error is None, self.error
        return list(self.lines)

    def ended(self):
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "following did not end"
        assert self.error is None, self.error
        return self.lines


def pod_reads(api, pod="worker"):
    return sum(1 for method, path, _, _, _ in api.requests if method == "GET" and path.endswith(f"/pods/{pod}"))


def polled_since(api, before, reads=2):
    """Wait until the follower looked at the pod ``reads`` more times (it saw the latest state)."""
    wait_for(lambda: pod_reads(api) >= before + reads, timeout=WAIT)


def test_follow_goes_on_across_restarts_and_ends_with_the_experiment(api, kube):
    launch(kube, policy="Always")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "run 1: a\nrun 1: b\n")
    follower = Follower(kube)
    assert follower.has(2) == ["run 1: a", "run 1: b"]

    api.write_log("exp", "worker", "worker", "run 1: last\n")
    api.exit_container("exp", "worker", "worker", exit_code=1, then="CrashLoopBackOff")
    before = pod_reads(api)
    polled_since(api, before)  # the stream ended; the restart is awaited
    assert list(kube.get_log("exp", "worker")) == ["run 1: a", "run 1: b", "run 1: last"]  # the ended run's log
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "run 2: a\n")
    assert follower.has(4) == ["run 1: a", "run 1: b", "run 1: last", "run 2: a"]

    api.exit_container("exp", "worker", "worker", exit_code=0)  # Always: restarted after success too
    polled_since(api, pod_reads(api))
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "run 3: a\n")
    assert follower.has(5)[-1] == "run 3: a"
    assert kube.describe_experiment("exp")[0].restarts == 2

    kube.delete("exp")
    assert follower.ended() == ["run 1: a", "run 1: b", "run 1: last", "run 2: a", "run 3: a"]


def test_follow_ends_when_the_restart_policy_will_not_start_it_again(api, kube):
    launch(kube, policy="OnFailure")
    api.start_container("exp", "worker", "worker")
    follower = Follower(kube)
    api.write_log("exp", "worker", "worker", "try 1\n")
    assert follower.has(1) == ["try 1"]
    api.exit_container("exp", "worker", "worker", exit_code=3, then="CrashLoopBackOff")
    polled_since(api, pod_reads(api))
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "try 2\ndone\n")
    assert follower.has(3) == ["try 1", "try 2", "done"]
    api.exit_container("exp", "worker", "worker", exit_code=0)  # OnFailure: a success is the end
    assert follower.ended() == ["try 1", "try 2", "done"]


def test_follow_started_during_a_back_off_prints_the_last_run_then_the_next(api, kube):
    launch(kube, policy="OnFailure")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "crashed run\n")
    api.exit_container("exp", "worker", "worker", exit_code=2, then="CrashLoopBackOff")
    follower = Follower(kube)
    assert follower.has(1) == ["crashed run"]
    polled_since(api, pod_reads(api))
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "good run\n")
    api.exit_container("exp", "worker", "worker", exit_code=0)
    assert follower.ended() == ["crashed run", "good run"]


def test_follow_of_a_never_restarted_container_ends_with_it(api, kube):
    launch(kube, policy="Never")
    api.start_container("exp", "worker", "worker")
    follower = Follower(kube)
    api.write_log("exp", "worker", "worker", "only run\n")
    assert follower.has(1) == ["only run"]
    api.exit_container("exp", "worker", "worker", exit_code=1)
    assert follower.ended() == ["only run"]


def test_a_run_that_came_and_went_unseen_is_printed_before_the_next(api, kube):
    """Between two looks at the pod the container ended, ran again briefly, ended and restarted:
    the run in between is now only the 'previous' log, and is read before the current one."""
    launch(kube, policy="Always")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "first\n")
    follower = Follower(kube)
    assert follower.has(1) == ["first"]

    held, release = threading.Event(), threading.Event()

    def hold_pod_reads(method, path, body):
        if method == "GET" and path.endswith("/pods/worker"):
            held.set()
            release.wait(WAIT)
    api.fail = hold_pod_reads
    api.exit_container("exp", "worker", "worker", exit_code=1)
    assert held.wait(WAIT)  # the stream ended and the follower is looking at the pod
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "brief\n")
    api.exit_container("exp", "worker", "worker", exit_code=1, then="CrashLoopBackOff")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "third\n")
    api.fail = None
    release.set()
    assert follower.has(3) == ["first", "brief", "third"]
    kube.delete("exp")
    assert follower.ended() == ["first", "brief", "third"]


def test_a_cut_stream_is_read_again_without_repeating_lines(api, kube):
    launch(kube, policy="Never")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "x\ny\n", same_time=True)  # one stamp for both lines
    follower = Follower(kube)
    assert follower.has(2) == ["x", "y"]
    requests = len(api.log_requests())
    api.drop_log_streams()
    wait_for(lambda: len(api.log_requests()) > requests, timeout=WAIT)
    api.write_log("exp", "worker", "worker", "z\n")
    assert follower.has(3) == ["x", "y", "z"]
    api.exit_container("exp", "worker", "worker")
    assert follower.ended() == ["x", "y", "z"]
    assert all(query["timestamps"] == "true" for query in api.log_requests())


def test_follow_with_tail_and_since_limits_only_the_first_run(api, kube):
    launch(kube, policy="Always")
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "old 1\nold 2\nold 3\n")
    follower = Follower(kube, tail=1, since="1h")
    assert follower.has(1) == ["old 3"]
    assert {k: api.log_requests()[0][k] for k in ("tailLines", "sinceSeconds", "follow")} == \
        {"tailLines": "1", "sinceSeconds": "3600", "follow": "true"}
    api.exit_container("exp", "worker", "worker", exit_code=1, then="CrashLoopBackOff")
    polled_since(api, pod_reads(api))
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "new 1\nnew 2\n")
    assert follower.has(3) == ["old 3", "new 1", "new 2"]
    kube.delete("exp")
    assert follower.ended() == ["old 3", "new 1", "new 2"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_container_being_created_is_waited_for_and_said_once_on_a_terminal(api, kube, monkeypatch):
    launch(kube)
    api.container_waiting("exp", "worker", "worker", "ContainerCreating")
    monkeypatch.setattr(LogFollower, "notice_after", 0.0)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    result = {}
    reader = threading.Thread(target=lambda: result.update(lines=list(kube.get_log("exp", "worker"))), daemon=True)
    reader.start()
    polled_since(api, pod_reads(api), reads=3)
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "hello\n")
    api.exit_container("exp", "worker", "worker")
    reader.join(WAIT)
    assert result == {"lines": ["hello"]}
    assert terminal.getvalue() == "waiting for 'worker' to start (ContainerCreating)...\n"


def test_following_a_container_being_created_starts_when_it_does_and_pipes_stay_clean(api, kube, capsys,
                                                                                     monkeypatch):
    launch(kube)
    capsys.readouterr()
    monkeypatch.setattr(LogFollower, "notice_after", 0.0)
    follower = Follower(kube)  # no container status at all yet: the pod was just created
    polled_since(api, pod_reads(api), reads=3)
    api.container_waiting("exp", "worker", "worker", "ContainerCreating")
    polled_since(api, pod_reads(api))
    api.start_container("exp", "worker", "worker")
    api.write_log("exp", "worker", "worker", "up\n")
    assert follower.has(1) == ["up"]
    api.exit_container("exp", "worker", "worker")
    assert follower.ended() == ["up"]
    assert capsys.readouterr().err == ""  # stderr is not a terminal: nothing said


@pytest.mark.parametrize("reason, message, expected", [
    ("ImagePullBackOff", 'Back-off pulling image "me/nope:1"',
     r"its container cannot start \(ImagePullBackOff: Back-off pulling image \"me/nope:1\"\)$"),
    ("ErrImagePull", None, r"its container cannot start \(ErrImagePull\)$"),
    ("CreateContainerConfigError", 'secret "creds" not found',
     r"its container cannot start \(CreateContainerConfigError: secret \"creds\" not found\)$"),
])
@pytest.mark.parametrize("follow", [False, True])
def test_a_container_that_cannot_start_is_one_line_saying_why(api, kube, reason, message, expected, follow):
    launch(kube)
    api.container_waiting("exp", "worker", "worker", reason, message)
    with pytest.raises(SymphonyError, match="^cannot read the log of 'worker': " + expected):
        list(kube.get_log("exp", "worker", follow=follow))


def test_an_unschedulable_pod_is_waited_for_up_to_the_timeout(api, kube):
    launch(kube)
    kube.timeout = 1
    api.stored("exp", "pods")["worker"]["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 Insufficient cpu."}]}
    with pytest.raises(SymphonyError, match=r"^cannot read the log of 'worker': it has not started after 1s "
                                            r"\(Unschedulable — 0/1 nodes are available: 1 Insufficient cpu\.\); "
                                            r"`symphony p` shows its state$"):
        list(kube.get_log("exp", "worker", follow=True))


def test_an_evicted_pod_that_never_ran_says_so(api, kube):
    launch(kube)
    api.set_pod_phase("exp", "worker", "Failed", reason="Evicted")
    with pytest.raises(SymphonyError, match=r"^cannot read the log of 'worker': it will not start \(Evicted\)$"):
        list(kube.get_log("exp", "worker"))


def test_the_kubelets_timestamps_are_compared_as_times_not_text():
    # RFC3339Nano drops trailing zeros: ".1Z" sorts after ".12Z" as text, but is earlier
    assert log_time("2024-05-01T10:00:00.1Z") < log_time("2024-05-01T10:00:00.12Z") < \
        log_time("2024-05-01T10:00:01Z")
    assert log_time("2024-05-01T12:00:00.5+02:00") == log_time("2024-05-01T10:00:00.500000000Z")
    assert log_time("not-a-time") is None


def test_the_cursor_skips_what_was_printed_including_lines_with_the_same_stamp():
    cursor = LogCursor()
    cursor.begin()
    assert [cursor.admit(t) for t in (1, 2, 2)] == [True, True, True]
    cursor.begin()  # the same log again, then more with the last stamp and later
    assert [cursor.admit(t) for t in (1, 2, 2, 2, 3)] == [False, False, False, True, True]
    cursor.begin()
    assert [cursor.admit(t) for t in (2, 3, 3, None)] == [False, False, True, True]
