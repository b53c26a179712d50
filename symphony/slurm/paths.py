"""Where a job directory keeps each process's log and status file (shared by the launcher, the
driver and every step's runner, which should not pay for importing the plan)."""

import os


def log_path_for(job_dir, key):
    return os.path.join(job_dir, "logs", key.replace("/", "__") + ".log")


def status_path_for(job_dir, key):
    return os.path.join(job_dir, "status", key.replace("/", "__") + ".json")


def step_path_for(job_dir, key):
    """The small file each step's runner reads: its process's argv, directory, environment and restart answers."""
    return os.path.join(job_dir, "steps", key.replace("/", "__") + ".json")


#: the runner, run by path (``python -I -S``) so that no step pays for importing the package
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")
