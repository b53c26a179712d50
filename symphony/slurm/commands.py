"""The Slurm commands Symphony runs (sbatch, squeue, scancel, sinfo, srun), and what it reads from them.

Slurm's client commands are the one stable interface of every Slurm version and site (the
REST API is optional and its versions differ), so everything goes through them with
machine-readable output formats. A missing command or an unreachable controller is one
line (:class:`~symphony.errors.BackendUnavailableError`), never a traceback.
"""

import os
import re

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
    import subprocess
    program = require(argv[0])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendUnavailableError(f"{program} did not answer in {timeout}s: is slurmctld reachable?") from None
    if check and done.returncode != 0:
        raise SlurmCommandError(program, done.stderr or done.stdout)
    return done.stdout


def require(program):
    """``program``, if it is on PATH; else the one line saying what to install."""
    import shutil
    if shutil.which(program) is None:
        raise BackendUnavailableError(f"the slurm backend needs Slurm's {program} on PATH: install Slurm's client "
                                      f"commands (Debian: apt-get install slurm-client)")
    return program


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
    return nodes_and_default_partition()[0]


def nodes_and_default_partition():
    """(every node, the default partition or None) from one ``sinfo``, which marks the default with ``*``."""
    text = run(["sinfo", "-h", "-N", "-o", "%N|%P|%c|%m|%f|%G|%o"])
    found, default = {}, None
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
        if partition.endswith("*"):
            default = partition.rstrip("*")
    return list(found.values()), default


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
    code, out, err = quick(["squeue", "-h", "-j", str(job_id), "-o", "%i|%T|%r|%N|%S"])
    if code is None:
        raise BackendUnavailableError("the slurm backend needs Slurm's squeue on PATH: install Slurm's client commands")
    if code != 0:
        if unreachable(err):
            raise SlurmCommandError("squeue", err)
        return {}  # "Invalid job id specified": the job is gone
    components = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 5:
            continue
        ident, state, reason, node_list, start = parts
        index = int(ident.split("+")[1]) if "+" in ident else 0
        components[index] = (state, reason, node_list, start)
    return components


def quick(argv):
    """(exit code, stdout, stderr) of a short query, None as the code when the program is not on PATH.

    Spawned directly rather than through :mod:`subprocess`: ``symphony p`` runs one ``squeue`` and
    should cost little more than squeue itself, and importing subprocess (with threading, selectors,
    signal) would be most of Symphony's own share. Slurm's commands time out by themselves
    (``MessageTimeout``) when the controller does not answer.
    """
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, err_write, 2), (os.POSIX_SPAWN_CLOSE, out_read), (os.POSIX_SPAWN_CLOSE, err_read)])
    except FileNotFoundError:
        for fd in (out_read, out_write, err_read, err_write):
            os.close(fd)
        return None, "", ""
    os.close(out_write)
    os.close(err_write)
    with open(out_read, "rb") as out, open(err_read, "rb") as err:
        output = out.read()   # (what squeue writes to stderr is one line: it cannot fill the pipe meanwhile)
        errors = err.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace"), errors.decode(errors="replace")


def cancel(job_id):
    """``scancel`` the whole job (every component and step); a job already gone is fine."""
    code, _, err = quick(["scancel", str(job_id)])
    if code is None:
        raise BackendUnavailableError("the slurm backend needs Slurm's scancel on PATH: install Slurm's client "
                                      "commands")
    if code != 0 and unreachable(err):
        raise SlurmCommandError("scancel", err)


def srun_has_container_images():
    """Whether this machine's srun takes ``--container-image`` (pyxis, the container plugin of
    enroot): the one container support Symphony uses. Local, no controller involved."""
    import shutil
    import subprocess
    if shutil.which("srun") is None:
        return False
    try:
        done = subprocess.run(["srun", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--container-image" in done.stdout + done.stderr
