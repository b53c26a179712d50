import pickle
import sys

import numpy as np
import pytest
import zmq

from caraml.zmq import ZmqClient, ZmqPull, ZmqPush, ZmqSerializerUnavailable, ZmqServer
from caraml.zmq.pickle_codec import OUT_OF_BAND_MIN_BYTES
from caraml.zmq.serializers import get_encoder

pytestmark = pytest.mark.timeout(30)

LARGE = OUT_OF_BAND_MIN_BYTES // 4 * 4  # float32 elements for exactly OUT_OF_BAND_MIN_BYTES bytes


def round_trip(data, serializer=None, deserializer=None):
    pull = ZmqPull(port=0, timeout=5, serializer=serializer, deserializer=deserializer)
    with pull, ZmqPush(port=pull.port, serializer=serializer) as push:
        push.push(data)
        return pull.pull()


def backing_frame(array):
    """The zmq.Frame whose memory ``array`` views, or None if the array owns or copied its data."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, zmq.Frame) else None


@pytest.mark.parametrize(
    "serializer, data",
    [
        ("pickle", {"obs": [1, 2.5, None], "name": "agent", "tuple": (1, 2)}),
        ("json", {"obs": [1, 2.5, None], "name": "agent"}),
        ("str", "héllo wörld"),
        ("raw", b"\x00\x01 raw bytes"),
    ],
)
def test_every_named_serializer_round_trips(serializer, data):
    assert round_trip(data, serializer=serializer) == data


def test_msgpack_round_trips():
    pytest.importorskip("msgpack")
    assert round_trip({"a": [1, 2, 3], "b": b"bytes"}, serializer="msgpack") == {"a": [1, 2, 3], "b": b"bytes"}


def test_msgpack_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` fail
    with pytest.raises(ZmqSerializerUnavailable, match="pip install msgpack"):
        ZmqPush(port=1, serializer="msgpack")
    assert issubclass(ZmqSerializerUnavailable, ImportError)


def test_callable_pair():
    serialization = {"serializer": lambda obj: repr(obj).encode(), "deserializer": lambda data: "got " + data.decode()}
    assert round_trip([1, 2], **serialization) == "got [1, 2]"


def test_callable_pair_in_client_and_server():
    upper = {"serializer": str.encode, "deserializer": lambda data: data.decode().upper()}
    with ZmqServer(port=0, **upper) as server, ZmqClient(port=server.port, timeout=5, **upper) as client:
        server.start_loop(lambda request: request + "!")
        assert client.request("hi") == "HI!"


def test_a_callable_serializer_needs_a_deserializer_to_receive():
    with pytest.raises(ValueError, match="deserializer="):
        ZmqPull(port=0, serializer=lambda obj: obj)


def test_unknown_serializer_name():
    with pytest.raises(ValueError, match="unknown serializer 'yaml'.*pickle"):
        ZmqPush(port=1, serializer="yaml")


def test_str_and_raw_refuse_the_wrong_type():
    with pytest.raises(TypeError, match="str"):
        get_encoder("str")(b"bytes")
    with pytest.raises(TypeError, match="bytes-like"):
        get_encoder("raw")("text")


def test_raw_returns_bytes_for_any_buffer():
    assert round_trip(bytearray(b"abc"), serializer="raw") == b"abc"
    assert round_trip(np.arange(3, dtype=np.uint8), serializer="raw") == b"\x00\x01\x02"


def test_a_bare_array_is_sent_as_header_and_buffer_without_copy():
    array = np.arange(LARGE, dtype=np.float32)
    frames = get_encoder("pickle")(array)
    assert len(frames) == 2
    assert np.shares_memory(np.frombuffer(frames[1], dtype=np.float32), array)
    assert len(frames[0]) < 100


def test_a_large_array_inside_a_message_is_sent_out_of_band_without_copy():
    array = np.arange(LARGE, dtype=np.float32)
    frames = get_encoder("pickle")({"obs": array, "step": 3})
    assert len(frames) == 2
    assert np.shares_memory(np.frombuffer(frames[1], dtype=np.float32), array)
    assert len(frames[0]) < 1000  # only the array's description is pickled


def test_a_small_array_inside_a_message_stays_in_the_pickle_stream():
    frames = get_encoder("pickle")({"obs": np.arange(10, dtype=np.float32)})
    assert len(frames) == 1


@pytest.mark.parametrize("shape", ["message", "dict value"])
def test_large_bytes_are_sent_out_of_band_without_copy(shape):
    payload = bytes(OUT_OF_BAND_MIN_BYTES)
    frames = get_encoder("pickle")(payload if shape == "message" else {"payload": payload, "n": 1})
    assert len(frames) == 2
    assert frames[1].obj is payload


def test_bytearray_is_sent_out_of_band_and_comes_back_as_bytearray():
    payload = bytearray(b"b" * OUT_OF_BAND_MIN_BYTES)
    frames = get_encoder("pickle")({"payload": payload})
    assert len(frames) == 2
    assert frames[1].obj is payload
    received = round_trip({"payload": payload})["payload"]
    assert type(received) is bytearray and received == payload


def test_deeply_nested_bytes_travel_in_band():
    assert len(get_encoder("pickle")([{"deep": (bytes(OUT_OF_BAND_MIN_BYTES),)}])) == 1


def test_pickle_buffer_comes_back_as_a_view_of_the_frame():
    received = round_trip([pickle.PickleBuffer(bytearray(b"z" * OUT_OF_BAND_MIN_BYTES))])[0]
    assert isinstance(received, memoryview) and isinstance(received.obj, zmq.Frame)
    assert bytes(received) == b"z" * OUT_OF_BAND_MIN_BYTES


@pytest.mark.parametrize(
    "wrap, unwrap",
    [
        (lambda array: array, lambda message: message),
        (lambda array: {"array": array}, lambda message: message["array"]),
        (lambda array: [1, array], lambda message: message[1]),
    ],
    ids=["bare", "in a dict", "in a list"],
)
def test_received_array_is_backed_by_the_zmq_frame(wrap, unwrap):
    array = np.random.default_rng(0).standard_normal((64, LARGE // 64)).astype(np.float32)
    received = unwrap(round_trip(wrap(array)))
    np.testing.assert_array_equal(received, array)
    frame = backing_frame(received)
    assert frame is not None, "the received array was copied out of the zmq frame"
    assert np.shares_memory(received, np.frombuffer(frame.buffer, dtype=np.float32))
    received += 1  # received frames belong to the receiver alone, so arrays may be modified


def test_a_small_bare_array_is_backed_by_its_frame_too():
    received = round_trip(np.arange(10, dtype=np.int64))
    np.testing.assert_array_equal(received, np.arange(10))
    assert backing_frame(received) is not None


def test_a_small_array_inside_a_message_arrives_as_a_copy():
    received = round_trip({"obs": np.arange(10, dtype=np.int64)})["obs"]
    np.testing.assert_array_equal(received, np.arange(10))
    assert backing_frame(received) is None


@pytest.mark.parametrize(
    "array",
    [
        np.asfortranarray(np.arange(LARGE, dtype=np.float64).reshape(256, -1)),
        np.arange(2 * LARGE, dtype=np.float32)[::2],
        np.zeros(LARGE, dtype=[("x", np.float32), ("flag", np.bool_)]),
        np.array([{"a": 1}, None, "text"], dtype=object),
        np.array(["2020-01-01", "2021-02-03"], dtype="datetime64[D]"),
        np.array(["ab", "cde"]),
        np.arange(5, dtype=">i4"),
        np.array(3.5),
        np.zeros((0, 3)),
        np.arange(4) * 1j,
        np.ma.array([1, 2, 3], mask=[0, 1, 0]),
    ],
    ids=[
        "fortran-order",
        "strided",
        "structured",
        "object",
        "datetime",
        "unicode",
        "big-endian",
        "zero-dimensional",
        "empty",
        "complex",
        "masked-subclass",
    ],
)
@pytest.mark.parametrize("shape", ["bare", "in a list"])
def test_unusual_arrays_round_trip(array, shape):
    received = round_trip(array if shape == "bare" else [array])
    received = received if shape == "bare" else received[0]
    assert type(received) is type(array)
    assert received.dtype == array.dtype and received.shape == array.shape
    if array.dtype.hasobject:
        assert list(received) == list(array)
    else:
        np.testing.assert_array_equal(received, array)
    if np.ma.isMaskedArray(array):
        assert list(received.mask) == list(array.mask)
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        assert received.flags.f_contiguous


def test_large_bytes_round_trip_as_bytes():
    payload = bytes(range(256)) * (OUT_OF_BAND_MIN_BYTES // 256 + 1)
    message = {"payload": payload, "small": b"tiny", "nested": [payload]}
    received = round_trip(message)
    assert received == message
    assert type(received["payload"]) is bytes
    assert round_trip(payload) == payload
