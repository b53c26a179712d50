import pytest

from caraml.zmq import ZmqPub, ZmqSub, ZmqTimeoutError

pytestmark = pytest.mark.timeout(30)

QUICK = 0.05  # seconds a subscriber waits per attempt in these polling tests


def test_sub_receives_topic_and_data_for_prefix_matches_only(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, topic="obs", timeout=QUICK) as sub:

        def publish():
            pub.pub("obs/agent-1", {"x": 1})
            pub.pub("reward", 0.5)

        received = receive_until(sub.recv, lambda got: len(got) >= 3, publish)
        assert all(message == ("obs/agent-1", {"x": 1}) for message in received), received


def test_sub_to_a_list_of_topics(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, topic=["a", "b"], timeout=QUICK) as sub:

        def publish():
            for topic in ("a", "b", "c"):
                pub.pub(topic, topic.upper())

        received = receive_until(sub.recv, lambda got: {t for t, _ in got} >= {"a", "b"}, publish)
        assert {topic for topic, _ in received} == {"a", "b"}
        assert all(data == topic.upper() for topic, data in received)


def test_default_topic_receives_everything(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, timeout=QUICK) as sub:
        received = receive_until(sub.recv, lambda got: len(got) >= 1, lambda: pub.pub("anything", 1))
        assert received[0] == ("anything", 1)


def test_subscribe_and_unsubscribe(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, topic="marker", timeout=QUICK) as sub:
        counter = iter(range(10**6))

        def publish_pair():
            n = next(counter)
            pub.pub("news", n)
            pub.pub("marker", n)

        sub.subscribe("news")
        receive_until(sub.recv, lambda got: any(topic == "news" for topic, _ in got), publish_pair)

        sub.unsubscribe("news")

        # Once a marker arrives without its "news" twin, the publisher has seen the
        # unsubscription: no "news" may arrive after it.
        def unsubscription_seen(got):
            news = {n for topic, n in got if topic == "news"}
            return any(topic == "marker" and n not in news for topic, n in got)

        received = receive_until(sub.recv, unsubscription_seen, publish_pair)
        later = receive_until(sub.recv, lambda got: len(got) >= 20, publish_pair)
        assert all(topic == "marker" for topic, _ in later), later
        assert received  # the unsubscription was observed


def test_pub_binds_and_sub_connects_by_default():
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port) as sub:
        assert pub.bind and not sub.bind


def test_sub_recv_times_out():
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, timeout=0.05) as sub:
        with pytest.raises(ZmqTimeoutError, match="recv timed out"):
            sub.recv()


def test_bytes_topics_are_accepted_and_received_as_str(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, topic=b"obs", timeout=QUICK) as sub:
        sub.subscribe(b"metrics")
        received = receive_until(
            sub.recv,
            lambda got: {topic for topic, _ in got} >= {"obs/1", "metrics"},
            lambda: [pub.pub(b"obs/1", 1), pub.pub("metrics", 2), pub.pub(b"other", 3)],
        )
        assert set(received) == {("obs/1", 1), ("metrics", 2)}


def test_topic_none_receives_everything(receive_until):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port, topic=None, timeout=QUICK) as sub:
        received = receive_until(sub.recv, lambda got: len(got) >= 1, lambda: pub.pub("anything", 1))
        assert received[0] == ("anything", 1)


@pytest.mark.parametrize(
    "misuse",
    [
        lambda pub, sub: pub.pub(5, "data"),
        lambda pub, sub: pub.pub(None, "data"),
        lambda pub, sub: sub.subscribe(None),
        lambda pub, sub: sub.unsubscribe(7),
        lambda pub, sub: ZmqSub(port=pub.port, topic=5),
        lambda pub, sub: ZmqSub(port=pub.port, topic=["a", 5]),
    ],
    ids=["pub-int", "pub-none", "subscribe-none", "unsubscribe-int", "sub-int", "sub-list-with-int"],
)
def test_a_topic_of_the_wrong_type_is_a_type_error_naming_topic(misuse):
    with ZmqPub(port=0) as pub, ZmqSub(port=pub.port) as sub:
        with pytest.raises(TypeError, match="topic must be str"):
            misuse(pub, sub)
