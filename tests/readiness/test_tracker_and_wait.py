"""The readiness rule (one pass: ready; threshold failures in a row: not ready; a restart: not ready),
and a process-side wait against real listeners that start late, never, or in time."""

import threading
import time

from symphony.readiness import ReadinessTracker, wait_until_ready
from symphony.resolution.resolved import ResolvedCheck, ResolvedWait
from symphony.status import ProcessState, ProcessStatus

from .servers import LateListener, free_port


def tcp_check(service, port, interval=0.05, threshold=3):
    return ResolvedCheck(service=service, kind="tcp", host="127.0.0.1", port=port, path=None, argv=(),
                         interval=interval, timeout=0.5, failure_threshold=threshold, declared=False)


def waiting(service, port, timeout=5.0, on_timeout="fail"):
    return ResolvedWait(service=service, provider=f"{service}-server", check=tcp_check(service, port),
                        timeout=timeout, on_timeout=on_timeout)


def test_one_pass_makes_ready_and_threshold_failures_in_a_row_make_not_ready():
    tracker = ReadinessTracker([tcp_check("replay", 1, interval=2.0, threshold=3)], now=100.0)
    assert [c.service for c in tracker.due(100.0)] == ["replay"] and not tracker.is_ready("replay")
    assert not tracker.record("replay", False, "refused", now=100.0)            # still starting
    assert tracker.due(101.0) == [] and tracker.next_due() == 102.0
    assert tracker.record("replay", True, now=102.0) and tracker.is_ready("replay")
    state = tracker.state("replay")
    assert (state.since, state.startup_failures, state.failures) == (102.0, 1, 0)
    assert not tracker.record("replay", False, now=104.0)
    assert not tracker.record("replay", True, now=106.0)                        # a pass resets the run
    assert not tracker.record("replay", False, now=108.0)
    assert not tracker.record("replay", False, now=110.0)
    assert tracker.is_ready("replay")
    assert tracker.record("replay", False, "HTTP 503", now=112.0)               # third in a row
    assert not tracker.is_ready("replay")
    assert (state.since, state.failures, state.consecutive_failures, state.detail) == (112.0, 4, 3, "HTTP 503")
    assert tracker.failures(["replay"]) == 4


def test_a_restarted_provider_is_not_ready_until_checked_again():
    tracker = ReadinessTracker([tcp_check("a", 1, interval=10.0), tcp_check("b", 2, interval=10.0)], now=0.0)
    tracker.record("a", True, now=0.0)
    tracker.record("b", True, now=0.0)
    tracker.reset("a", now=5.0)
    assert not tracker.is_ready("a") and tracker.is_ready("b")
    assert [c.service for c in tracker.due(5.0)] == ["a"]
    waits = [waiting("a", 1), waiting("b", 2)]
    assert tracker.unmet(waits) == ["a"]
    assert tracker.waiting_detail(waits, now=17.0) == "a (not ready 12s)"
    tracker.record("a", True, now=18.0)
    assert tracker.unmet(waits) == [] and tracker.waiting_detail(waits, now=18.0) == ""
    assert tracker.state("a").to_dict(now=20.0)["for"] == 2.0


def test_held_status_shows_what_it_waits_for_and_json_carries_it():
    held = ProcessStatus.held("agent-0", "", "agent-0", ["replay"], 12.4)
    assert held.state is ProcessState.WAITING and held.state_text() == "waiting: replay (not ready 12s)"
    data = held.to_dict()
    assert data["waiting_for"] == ["replay"] and data["state"] == "waiting" and not data["ready"]
    plain = ProcessStatus("a", "", "a", "running", ready=True, started=time.time())
    assert set(plain.to_dict()) == {"group", "name", "key", "state", "ready", "restarts", "exit_code", "signal",
                                    "started", "finished", "pid", "detail"}   # today's keys, unchanged
    checked = ProcessStatus("s", "", "s", "running", ready=False, checked=True, not_ready=["replay"],
                            readiness_failures=4)
    assert checked.to_dict()["not_ready"] == ["replay"] and checked.to_dict()["readiness_failures"] == 4


def test_wait_returns_as_soon_as_a_late_server_listens():
    port = free_port()
    listener = LateListener(port, delay=0.6)
    changes = []
    try:
        begun = time.monotonic()
        outcome = wait_until_ready([waiting("replay", port)], on_change=lambda *c: changes.append(c))
        returned = time.monotonic()
    finally:
        listener.stop()
    assert outcome.start and outcome.all_ready and outcome.ready == ["replay"] and outcome.reason == ""
    assert listener.listening_at is not None and returned >= listener.listening_at
    assert returned - listener.listening_at < 0.5, "the wait noticed the server late"
    assert 0.55 < returned - begun < 3
    assert changes == [("replay", True, "accepts connections")]


def test_the_deadline_fails_or_starts_as_declared():
    nobody = free_port()
    failed = wait_until_ready([waiting("replay", nobody, timeout=0.3)])
    assert not failed.start and failed.timed_out == ["replay"] and 0.25 < failed.waited < 2
    assert failed.reason == f"not started: not ready after 0.3s: replay (127.0.0.1:{nobody}: connection refused)"
    started = wait_until_ready([waiting("replay", nobody, timeout=0.3, on_timeout="start")])
    assert started.start and started.timed_out == ["replay"] and started.reason.startswith("started anyway")


def test_every_service_is_waited_for_and_an_overall_deadline_cuts_waits_short():
    early, late = free_port(), free_port()
    first, second = LateListener(early), LateListener(late, delay=0.4)
    try:
        outcome = wait_until_ready([waiting("a", early), waiting("b", late)])
        assert outcome.start and sorted(outcome.ready) == ["a", "b"]
        assert outcome.waited >= 0.35
    finally:
        first.stop()
        second.stop()
    nobody = free_port()
    cut = wait_until_ready([waiting("a", nobody, timeout=60)], deadline=time.time() + 0.2)
    assert not cut.start and cut.waited < 2


def test_waits_from_several_threads_do_not_share_state():
    port = free_port()
    listener = LateListener(port, delay=0.3)
    outcomes = []
    try:
        threads = [threading.Thread(target=lambda: outcomes.append(wait_until_ready([waiting("s", port)])))
                   for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        listener.stop()
    assert len(outcomes) == 5 and all(outcome.start and outcome.all_ready for outcome in outcomes)
