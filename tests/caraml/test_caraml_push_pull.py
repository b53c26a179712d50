import threading
import time

import pytest

from caraml.zmq import ZmqPull, ZmqPuller, ZmqPush, ZmqPusher, ZmqTimeoutError

pytestmark = pytest.mark.timeout(30)


def test_pushed_messages_arrive_in_order():
    with ZmqPull(port=0, timeout=5) as pull, ZmqPush(port=pull.port) as push:
        for n in range(100):
            push.push({"n": n})
        assert [pull.pull()["n"] for _ in range(100)] == list(range(100))


def test_old_names_are_aliases():
    assert ZmqPusher is ZmqPush and ZmqPuller is ZmqPull


def test_default_roles_pull_binds_push_connects_and_bind_overrides_them():
    with ZmqPull(port=0) as pull, ZmqPush(port=pull.port) as push:
        assert pull.bind and not push.bind
    with ZmqPush(port=0, bind=True) as push, ZmqPull(port=push.port, bind=False, timeout=5) as pull:
        push.push("reversed roles")
        assert pull.pull() == "reversed roles"


def test_pull_times_out_and_stays_usable():
    with ZmqPull(port=0, timeout=0.1) as pull, ZmqPush(port=pull.port) as push:
        with pytest.raises(ZmqTimeoutError, match="pull timed out after 0.1 s"):
            pull.pull()
        push.push("later")
        pull.timeout = 5
        assert pull.pull() == "later"


def test_timeout_can_be_changed_on_a_live_socket():
    with ZmqPull(port=0) as pull:
        pull.timeout = 0.05
        started = time.monotonic()
        with pytest.raises(ZmqTimeoutError, match="after 0.05 s"):
            pull.pull()
        assert time.monotonic() - started < 1
        assert pull.timeout == 0.05


def test_hwm_bounds_the_send_queue():
    # Nobody listens on this port, so messages pile up in the push queue until the HWM.
    free_port = ZmqPull(port=0)
    port = free_port.port
    free_port.close()
    with ZmqPush(port=port, hwm=2, timeout=0.1) as push, pytest.raises(ZmqTimeoutError, match="push timed out"):
        for _ in range(50):
            push.push(b"x")


def test_several_pushers_fan_in_to_one_puller():
    with ZmqPull(port=0, timeout=5) as pull:
        pushers = [ZmqPush(port=pull.port) for _ in range(3)]
        senders = [
            threading.Thread(target=lambda p=p, i=i: [p.push((i, n)) for n in range(20)]) for i, p in enumerate(pushers)
        ]
        for sender in senders:
            sender.start()
        received = sorted(pull.pull() for _ in range(60))
        assert received == sorted((i, n) for i in range(3) for n in range(20))
        for sender in senders:
            sender.join()
        for pusher in pushers:
            pusher.close()
