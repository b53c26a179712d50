"""Benchmark caraml.zmq against raw pyzmq doing the same job, side by side in one run.

Run from the repository root:

    python bench/caraml_bench.py            # about a minute on a 2-core machine
    python bench/caraml_bench.py --quick    # a smoke run of a few seconds

Both sides of every measurement are separate processes talking over tcp on
127.0.0.1, on ports the OS picks. Raw and caraml runs alternate, several
rounds each, and the best round of each counts: the best round is the one
least disturbed by the rest of the machine, for both alike.

push/pull throughput, numpy float32 arrays
    raw:    send_multipart([small header, array], copy=False); recv_multipart(copy=False)
            and np.frombuffer over the array frame (zero copy on both ends).
    caraml: ZmqPush.push(array) / ZmqPull.pull() with the default pickle serializer.
    Target: caraml >= 90 % of raw from 64 kB up.

req/rep round-trip latency, a small dict
    raw:    REQ/REP with send_pyobj/recv_pyobj, pickle on both ends, which is what
            caraml's default serializer does too.
    caraml: ZmqClient.request() against ZmqServer.start_loop(echo).
    Target: caraml <= 1.15 x raw.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from caraml.zmq import ZmqClient, ZmqPull, ZmqPush, ZmqServer  # noqa: E402

SIZES = {"1 kB": 1 << 10, "64 kB": 1 << 16, "1 MB": 1 << 20, "16 MB": 1 << 24}
# Messages per timed throughput run: about half a second each on a 2-core machine.
MESSAGES_PER_RUN = {1 << 10: 60_000, 1 << 16: 12_000, 1 << 20: 1_500, 1 << 24: 100}
ROUND_TRIPS_PER_RUN = 5_000
SMALL_REQUEST = {"step": 1234, "action": [0.25, -0.5, 1.0], "done": False}
# Bytes that may wait in one socket's queue: keeps memory bounded for 16 MB messages.
QUEUED_BYTES = 1 << 28
THROUGHPUT_TARGET = 0.90
LATENCY_TARGET = 1.15

SPAWN = multiprocessing.get_context("spawn")


def queue_limit(nbytes: int) -> int:
    return max(4, min(1000, QUEUED_BYTES // nbytes))


# --- push/pull -----------------------------------------------------------------------------


def raw_push(port: int, nbytes: int, count: int, done) -> None:
    array = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.sndhwm = queue_limit(nbytes)
    sock.connect(f"tcp://127.0.0.1:{port}")
    header = array.dtype.str.encode()
    for _ in range(count):
        sock.send_multipart([header, array], copy=False)
    done.wait()
    sock.close(linger=0)


def caraml_push(port: int, nbytes: int, count: int, done) -> None:
    array = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    with ZmqPush(port=port, hwm=queue_limit(nbytes)) as push:
        for _ in range(count):
            push.push(array)
        done.wait()


def raw_pull_receiver(nbytes: int):
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.rcvhwm = queue_limit(nbytes)
    port = sock.bind_to_random_port("tcp://127.0.0.1")

    def receive():
        header, body = sock.recv_multipart(copy=False)
        return np.frombuffer(body.buffer, dtype=header.bytes.decode())

    return port, receive, sock.close


def caraml_pull_receiver(nbytes: int):
    pull = ZmqPull(port=0, hwm=queue_limit(nbytes))
    return pull.port, pull.pull, pull.close


def measure_throughput(make_receiver, sender, nbytes: int, count: int) -> float:
    """Messages per second received, timed from the first message of the run to the last."""
    warmup = max(2, count // 20)
    port, receive, close = make_receiver(nbytes)
    done = SPAWN.Event()
    process = SPAWN.Process(target=sender, args=(port, nbytes, warmup + count, done))
    process.start()
    try:
        for _ in range(warmup):
            receive()
        started = time.perf_counter()
        for _ in range(count):
            array = receive()
        elapsed = time.perf_counter() - started
        assert array.nbytes == nbytes and array.dtype == np.float32
    finally:
        done.set()
        process.join()
        close()
    return count / elapsed


# --- req/rep -------------------------------------------------------------------------------


def raw_echo_server(port: int, ready) -> None:
    sock = zmq.Context.instance().socket(zmq.REP)
    sock.connect(f"tcp://127.0.0.1:{port}")
    ready.set()
    while True:
        sock.send_pyobj(sock.recv_pyobj())


def caraml_echo_server(port: int, ready) -> None:
    server = ZmqServer(port=port, bind=False)
    ready.set()
    server.start_loop(lambda request: request, blocking=True)


def raw_requester():
    sock = zmq.Context.instance().socket(zmq.REQ)
    port = sock.bind_to_random_port("tcp://127.0.0.1")

    def request(message):
        sock.send_pyobj(message)
        return sock.recv_pyobj()

    return port, request, sock.close


def caraml_requester():
    # The client binds here only so that it can pick the port; requests flow the same way.
    client = ZmqClient(port=0, bind=True)
    return client.port, client.request, client.close


def measure_round_trips(make_requester, server, count: int) -> float:
    """Round trips per second, one request in flight at a time."""
    port, request, close = make_requester()
    ready = SPAWN.Event()
    process = SPAWN.Process(target=server, args=(port, ready), daemon=True)
    process.start()
    try:
        ready.wait()
        for _ in range(max(100, count // 10)):
            request(SMALL_REQUEST)
        started = time.perf_counter()
        for _ in range(count):
            reply = request(SMALL_REQUEST)
        elapsed = time.perf_counter() - started
        assert reply == SMALL_REQUEST
    finally:
        process.kill()
        process.join()
        close()
    return count / elapsed


# --- report --------------------------------------------------------------------------------


def best_of(rounds: int, raw, caraml) -> tuple[float, float]:
    """Best rate of each over ``rounds`` alternating runs."""
    raw_rates, caraml_rates = [], []
    for _ in range(rounds):
        raw_rates.append(raw())
        caraml_rates.append(caraml())
    return max(raw_rates), max(caraml_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating raw/caraml runs per row (best counts)")
    parser.add_argument("--quick", action="store_true", help="a few seconds' smoke run; numbers are rough")
    options = parser.parse_args()
    scale = 0.1 if options.quick else 1.0
    rounds = 1 if options.quick else options.rounds

    rows = []
    for label, nbytes in SIZES.items():
        count = max(10, int(MESSAGES_PER_RUN[nbytes] * scale))
        raw, caraml = best_of(
            rounds,
            lambda: measure_throughput(raw_pull_receiver, raw_push, nbytes, count),
            lambda: measure_throughput(caraml_pull_receiver, caraml_push, nbytes, count),
        )
        ratio = caraml / raw
        target = f"≥ {THROUGHPUT_TARGET:.0%}" if nbytes >= 1 << 16 else "(none)"
        met = "" if nbytes < 1 << 16 else (" ✅" if ratio >= THROUGHPUT_TARGET else " ❌")
        rows.append(
            f"| push/pull {label} | {raw:,.0f} msg/s, {raw * nbytes / 1e9:.2f} GB/s "
            f"| {caraml:,.0f} msg/s, {caraml * nbytes / 1e9:.2f} GB/s | {ratio:.0%} of raw | {target}{met} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)

    count = max(200, int(ROUND_TRIPS_PER_RUN * scale))
    raw, caraml = best_of(
        rounds + 2,  # latency is the noisier measurement
        lambda: measure_round_trips(raw_requester, raw_echo_server, count),
        lambda: measure_round_trips(caraml_requester, caraml_echo_server, count),
    )
    ratio = raw / caraml  # latency ratio: caraml's round trip over raw's
    met = " ✅" if ratio <= LATENCY_TARGET else " ❌"
    rows.append(
        f"| req/rep small dict | {raw:,.0f} round trips/s, {1e6 / raw:.0f} µs | "
        f"{caraml:,.0f} round trips/s, {1e6 / caraml:.0f} µs | {ratio:.2f}× raw latency | "
        f"≤ {LATENCY_TARGET}×{met} |"
    )
    print(rows[-1], file=sys.stderr, flush=True)

    print()
    print(f"caraml vs raw pyzmq {zmq.pyzmq_version()} (libzmq {zmq.zmq_version()}), Python "
          f"{sys.version.split()[0]}, numpy {np.__version__}, best of {rounds} runs (latency: {rounds + 2})")
    print()
    print("| benchmark | raw pyzmq | caraml | caraml / raw | target |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
