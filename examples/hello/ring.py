"""One member of a socket ring: receive from the previous member, send to the next.

Uses nothing but the SYMPH_* variables Symphony provides: it listens on its own
service (``ring-<i>``) and connects to the next member's (``ring-<i+1>``). Each
member sends ``hello<i> <k>`` for k in 0..N-1, prints every message it receives,
and exits 0 once it has sent and received N messages. It first prints its network
namespace, so a run can check that the members of a process group share one.
"""

import argparse
import os
import socket
import sys
import threading
import time


_print_lock = threading.Lock()


def say(line):
    """Print one whole line: the receiver thread and the main thread both print."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def network_namespace():
    """This process's network namespace and the kernel it lives in (namespace numbers are
    unique only within one machine): ``run.py`` checks from it that groups are honoured."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return f"{os.readlink('/proc/self/ns/net')} on kernel {handle.read().strip()}"


def service_address(service):
    prefix = "SYMPH_" + service.upper().replace("-", "_")
    return os.environ[prefix + "_HOST"], int(os.environ[prefix + "_PORT"])


def connect(address, timeout=60.0):
    """Connect, retrying while the next member is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(address, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5)
    args = parser.parse_args()
    say(f"p{args.index} network namespace: {network_namespace()}")

    _, my_port = service_address(f"ring-{args.index}")
    bind_host = os.environ.get("SYMPH_BIND_HOST", "127.0.0.1")
    server = socket.create_server((bind_host, my_port))
    received = []

    def receive():
        connection, _ = server.accept()
        with connection, connection.makefile("r") as lines:
            for line in lines:
                received.append(line.strip())
                say(f"p{args.index} got: {line.strip()}")
                if len(received) == args.messages:
                    return

    receiver = threading.Thread(target=receive)
    receiver.start()
    nxt = (args.index + 1) % args.size
    with connect(service_address(f"ring-{nxt}")) as sock:
        for k in range(args.messages):
            sock.sendall(f"hello{args.index} {k}\n".encode())
        say(f"p{args.index} sent {args.messages} messages to p{nxt}")
        receiver.join(timeout=120)
    server.close()
    expected = [f"hello{(args.index - 1) % args.size} {k}" for k in range(args.messages)]
    if received != expected:
        print(f"p{args.index} expected {expected}, got {received}", file=sys.stderr, flush=True)
        return 1
    say(f"p{args.index} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
