"""Where a job directory keeps each process's log and status file (shared by the launcher, the
driver and every step's runner, which should not pay for importing the plan)."""

import os


def log_path_for(job_dir, key):
    return os.path.join(job_dir, "logs", key.replace("/", "__") + ".log")


def status_path_for(job_dir, key):
    return os.path.join(job_dir, "status", key.replace("/", "__") + ".json")
