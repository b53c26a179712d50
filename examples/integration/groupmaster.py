"""A groupmaster: take its half of each supertask, split it among its workers, reduce, report.

Workers *ask* for work (request/reply) rather than having it pushed at them, so
every worker gets its share and its stop however late it connected.
"""

import argparse
import queue
import threading

from caraml.zmq import ZmqPush, ZmqServer, ZmqSub
from namespace import report


class WorkQueue:
    """What the request handler (server thread) and the main loop share."""

    def __init__(self, workers):
        self.todo = queue.Queue()
        self.done = queue.Queue()
        self.stopping = threading.Event()
        self.stopped_workers = set()
        self.all_stopped = threading.Event()
        self.workers = workers

    def handle(self, request):
        kind, worker, *payload = request
        if kind == "result":
            self.done.put(tuple(payload))
            return "ok"
        try:
            return self.todo.get(timeout=0.2)
        except queue.Empty:
            if not self.stopping.is_set():
                return "wait"
            self.stopped_workers.add(worker)
            if len(self.stopped_workers) == self.workers:
                self.all_stopped.set()
            return "stop"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    me = f"g{args.group}"
    report(me)
    supertasks = ZmqSub(service="supertasks")
    upstream = ZmqPush(service="results")
    work = WorkQueue(args.workers)
    server = ZmqServer(service=f"{me}-tasks")
    server.start_loop(work.handle)
    upstream.push(("ready", args.group))

    answered = {}
    while True:
        topic, message = supertasks.recv()
        if topic == "stop":
            break
        task = message["id"]
        if task not in answered:
            low, high = message["halves"][args.group]
            width = (high - low) / args.workers
            for part in range(args.workers):
                work.todo.put((task, part, low + part * width, low + (part + 1) * width))
            parts = {}
            while len(parts) < args.workers:
                task_id, part, value = work.done.get()
                if task_id == task:
                    parts[part] = value
            answered[task] = sum(parts.values())
            print(f"{me}: supertask {task} [{low}, {high}] = {answered[task]:.9f}", flush=True)
        upstream.push(("result", args.group, task, answered[task]))

    work.stopping.set()
    work.all_stopped.wait()
    upstream.push(("bye", args.group))
    print(f"{me}: stopped", flush=True)
    server.stop()
    for sock in (supertasks, upstream, server):
        sock.close()


if __name__ == "__main__":
    main()
