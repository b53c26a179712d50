"""Helpers of the slurm tests (importable by name: pytest puts tests/slurm on sys.path)."""

import os
import subprocess


def squeue_names():
    """The job names in the queue (Symphony's are ``symphony-<experiment>``)."""
    return subprocess.run(["squeue", "-h", "-o", "%j|%T"], capture_output=True, text=True, check=True).stdout.split()


def experiment_processes(name):
    """Pids of live processes (any node: all run on this machine here) that carry SYMPH_EXPERIMENT=name."""
    marker = f"SYMPH_EXPERIMENT={name}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat") as stat:
                        if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found
