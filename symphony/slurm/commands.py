"""The Slurm commands Symphony runs (sbatch, squeue, scancel, sinfo, srun), and what it reads from them.

Slurm's client commands are the one stable interface of every Slurm version and site (the
REST API is optional and its versions differ), so everything goes through them with
machine-readable output formats. A missing command or an unreachable controller is one
line (:class:`~symphony.errors.BackendUnavailableError`), never a traceback.
"""

import re
import shutil
import subprocess

from ..errors import BackendUnavailableError, SpecError

#: Slurm's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
#: days-hours:minutes, days-hours:minutes:seconds (sbatch(1), --time)
_TIME = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2})$")
TIMEOUT = 30


def check_time(value):
    """``value`` as a Slurm time limit (what ``--time`` takes), or a one-line error at declaration time."""
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or not (_TIME.match(text) or text.lower() in ("infinite", "unlimited")):
        raise SpecError(f"time={value!r} is not a Slurm time limit: write minutes ('90'), 'HH:MM:SS' ('1:30:00') "
                        f"or 'D-HH[:MM[:SS]]' ('2-12')")
    return text


def check_word(name, value, example):
    """A partition, account or QOS name: one word without spaces (Slurm splits on them)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or re.search(r"[\s:#]", value):
        raise SpecError(f"{name}={value!r} is not a Slurm {name} name: give one word such as {example!r}")
    return value


def run(argv, check=True, input=None, timeout=TIMEOUT):
    """Run a Slurm command; its stdout. A failure is a :class:`BackendUnavailableError` or, with
    ``check``, the command's own first error line (``sbatch: error: ...``) in a SpecError."""
    program = argv[0]
    if shutil.which(program) is None:
        raise BackendUnavailableError(f"the slurm backend needs Slurm's {program} on PATH: install Slurm's client "
                                      f"commands (Debian: apt-get install slurm-client)")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendUnavailableError(f"{program} did not answer in {timeout}s: is slurmctld reachable?") from None
    if check and done.returncode != 0:
        raise SlurmCommandError(program, done.stderr or done.stdout)
    return done.stdout


class SlurmCommandError(BackendUnavailableError):
    """A Slurm command failed; its message is Slurm's own first error line."""

    def __init__(self, program, output):
        self.program = program
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()] or lines or ["(no output)"]
        self.line = errors[-1]
        super().__init__(f"{program} failed: {self.line}")


def unreachable(output):
    """Whether a command's error says the controller cannot be reached (rather than a refusal)."""
    return bool(re.search(r"Unable to contact slurm controller|Socket timed out|Connection refused", output or ""))


class Node:
    """One node as ``sinfo -N`` reports it: what a job component may ask of it."""

    def __init__(self, name, partitions, cpus, memory_mb, features, gpus, address):
        self.name, self.partitions, self.cpus, self.memory_mb = name, partitions, cpus, memory_mb
        self.features, self.gpus, self.address = features, gpus, address


def nodes():
    """Every node of the cluster (``sinfo -N``), with its partitions, CPUs, memory, features and GPUs."""
    text = run(["sinfo", "-h", "-N", "-o", "%N|%P|%c|%m|%f|%G|%o"])
    found = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 7:
            continue
        name, partition, cpus, memory, features, gres, address = parts
        node = found.get(name)
        if node is None:
            node = found[name] = Node(name, [], _int(cpus), _int(memory.rstrip("+")),
                                      {f for f in features.split(",") if f and f != "(null)"}, gpu_count(gres), address)
        node.partitions.append(partition.rstrip("*"))
    return list(found.values())


def default_partition():
    for line in run(["sinfo", "-h", "-o", "%P"]).splitlines():
        if line.strip().endswith("*"):
            return line.strip().rstrip("*")
    return None


def gpu_count(gres):
    """GPUs in a gres string such as ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:1,shard:4``."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _int(text):
    try:
        return int(text)
    except ValueError:
        return 0


def job_components(job_id):
    """``{component index: (state, reason, nodes, start time)}`` of a job in the queue (``squeue``); {} when
    Slurm has forgotten it (ended more than MinJobAge ago, or never existed)."""
    if job_id is None:
        return {}  # not submitted
    done = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%i|%T|%r|%N|%S"], capture_output=True, text=True,
                          timeout=TIMEOUT) if shutil.which("squeue") else None
    if done is None:
        raise BackendUnavailableError("the slurm backend needs Slurm's squeue on PATH: install Slurm's client commands")
    if done.returncode != 0:
        if unreachable(done.stderr):
            raise SlurmCommandError("squeue", done.stderr)
        return {}  # "Invalid job id specified": the job is gone
    components = {}
    for line in done.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 5:
            continue
        ident, state, reason, node_list, start = parts
        index = int(ident.split("+")[1]) if "+" in ident else 0
        components[index] = (state, reason, node_list, start)
    return components


def cancel(job_id):
    """``scancel`` the whole job (every component and step); a job already gone is fine."""
    done = subprocess.run(["scancel", str(job_id)], capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0 and unreachable(done.stderr):
        raise SlurmCommandError("scancel", done.stderr)


def srun_has_container_images():
    """Whether this machine's srun takes ``--container-image`` (pyxis, the container plugin of
    enroot): the one container support Symphony uses. Local, no controller involved."""
    if shutil.which("srun") is None:
        return False
    try:
        done = subprocess.run(["srun", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--container-image" in done.stdout + done.stderr
