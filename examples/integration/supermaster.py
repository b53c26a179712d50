"""The supermaster: broadcast 10 supertasks to the groups, reduce their answers, stop everyone."""

import argparse

from caraml.zmq import ZmqPub, ZmqPull, ZmqTimeoutError
from namespace import report

RESEND_AFTER = 1.0  # seconds; a subscriber that joined late missed the first broadcast


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, required=True)
    args = parser.parse_args()
    report("s0")
    publish = ZmqPub(service="supertasks")
    results = ZmqPull(service="results", timeout=RESEND_AFTER)

    ready = set()
    while len(ready) < args.groups:
        try:
            kind, group, *_ = results.pull()
        except ZmqTimeoutError:
            continue
        if kind == "ready":
            ready.add(group)
    print(f"s0: {len(ready)} groups ready", flush=True)

    total = 0.0
    for task in range(10):
        low, high = float(task), float(task + 1)
        middle = (low + high) / 2
        answers = {}
        while len(answers) < args.groups:
            publish.pub("task", {"id": task, "halves": [(low, middle), (middle, high)]})
            try:
                while len(answers) < args.groups:
                    kind, group, task_id, value = results.pull()
                    if kind == "result" and task_id == task:
                        answers[group] = value
            except ZmqTimeoutError:
                pass  # broadcast again: groups answer repeats from their cache
        print(f"s0: supertask {task} [{low}, {high}] = {sum(answers.values()):.9f}", flush=True)
        total += sum(answers.values())
    print(f"total = {total:.12f}", flush=True)

    stopped = set()
    while len(stopped) < args.groups:
        publish.pub("stop", None)
        try:
            kind, group, *_ = results.pull()
            if kind == "bye":
                stopped.add(group)
        except ZmqTimeoutError:
            pass
    print("s0: everyone stopped", flush=True)
    publish.close()
    results.close()


if __name__ == "__main__":
    main()
