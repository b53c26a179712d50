"""A server that starts listening late, and clients that connect to it once.

    python node.py server --delay 5 --clients 10
    python node.py client --index 3

The server sleeps ``--delay`` seconds (a model or a replay buffer loading) before it
listens on its service's port, then answers each client's ``hello N`` with ``welcome N``
and ends once ``--clients`` clients were served. A client makes exactly one connection
attempt, with no retry, and logs whether it succeeded: started before the server
listens, it would fail. Both use only the ``SYMPH_*`` variables.
"""

import argparse
import os
import socket
import sys
import time


def say(text):
    print(text, flush=True)


def network_namespace():
    """This process's network namespace and the kernel it lives in: ``run.py`` checks groups with it."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return f"{os.readlink('/proc/self/ns/net')} on kernel {handle.read().strip()}"


def serve(delay, clients):
    time.sleep(delay)
    port = int(os.environ["SYMPH_MODEL_PORT"])
    with socket.create_server((os.environ.get("SYMPH_BIND_HOST", "127.0.0.1"), port)) as server:
        say(f"server listening on port {port} after {delay:g}s")
        served = 0
        while served < clients:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                request = conn.recv(64).decode()
                if not request.startswith("hello "):
                    continue  # (a readiness check: it connects and closes)
                conn.sendall(f"welcome {request.split()[1]}\n".encode())
                served += 1
        say(f"server served {served} clients")


def client(index):
    host, port = os.environ["SYMPH_MODEL_HOST"], int(os.environ["SYMPH_MODEL_PORT"])
    try:
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(f"hello {index}".encode())
            answer = conn.recv(64).decode().strip()
    except OSError as exc:
        say(f"client {index} connection error on the first attempt: {exc}")
        return 1
    say(f"client {index} first connection attempt succeeded: {answer}")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--delay", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    say(f"{args.role} network namespace: {network_namespace()}")
    if args.role == "server":
        serve(args.delay, args.clients)
        return 0
    return client(args.index)


if __name__ == "__main__":
    sys.exit(main())
