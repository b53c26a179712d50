"""Symphony's own tools inside every process container, and the restart runner built on them.

Why: Docker restarts a container by starting it again as ``docker start`` does (filesystem,
namespaces, containerd's shim, runc), which the engine does not bound; under CPU load that took
11-45 s past the back-off. A process started again *inside* its running container costs one fork,
like on the local and tmux backends. That needs a program in the container that stays the
process's parent, whatever the image holds: images may have no shell at all.

What: :data:`TOOLS_DIR` (``/.symphony``), mounted read-only into every container that uses it, holds

* ``busybox``: a static busybox (Debian's ``busybox-static``), so Symphony's scripts run with
  Symphony's shell and applets (``sleep``, ``date``), never the image's;
* ``run``: the restart runner (:data:`RUNNER_SCRIPT`, POSIX sh run by that busybox);
* ``sigdfl``: a static program of a few dozen bytes, written here byte by byte like the group
  holders' ``/pause``, that resets SIGINT and SIGQUIT to their default action and executes its
  arguments. A shell without job control starts background commands with those two ignored
  (POSIX), so without it a process would never see a forwarded ^C or an image's
  ``STOPSIGNAL SIGINT``.

How it gets there, with nothing pulled and nothing compiled: Symphony imports an image
(:func:`tools_image`, ``symphony-tools:<hash>``, like ``docker import``) from a tarball of the
busybox found on this machine (:func:`find_busybox`: ``$SYMPHONY_BUSYBOX``, else ``busybox`` on
PATH or in /bin; it must be a static executable of the engine's architecture) and the two
files above, then fills a named volume (``symphony-tools-<hash>``) from it by creating, and
removing at once, a container of that image that mounts the empty volume (Docker copies an
image's content into an empty volume mounted over it). Both are made once per engine and kept,
like the holder image (about 2 MB; not an experiment's, so ``delete`` leaves them). The hash
covers every file, so another busybox or runner makes new ones, never a stale one. Docker 20.10
has no image mounts, which is why a volume carries the files.

Each experiment that uses the runner also gets a state volume (:func:`state_volume`, labelled
with the experiment, so ``delete`` removes it), mounted read-write at :data:`STATE_DIR` in each
of its runner containers: every runner keeps one record there, a line ``RESTARTS STATE EXIT
STARTED FINISHED`` (:func:`parse_record`). The host reads them straight from the volume's folder
when the engine runs on this machine and lets this user read it (:func:`read_local_records`: no
request; 1 ms for 50 records), else all of an experiment's records with one archive request to
one container (:func:`read_records`; 80 ms for 50 at a load of 20), so ``symphony p`` costs at
most one engine round trip more, however many processes restart. The volume's root is made world-writable
(its copy from the tools image's ``symphony-state/``, mode 1777), so images that run as another
user than root can keep their record too.

A process that waits for services (``connects(..., wait=True)``) starts under ``wait``
(:data:`WAIT_SCRIPT`, :func:`wait_entrypoint`), which holds it until each service answers its
provider's check from this container (busybox ``nc`` connects for a TCP or command check,
``wget`` GETs for an HTTP one), keeping a ``waiting`` record meanwhile, then hands over to the
restart runner (or executes the process). Another mechanism that needs Symphony's programs in
containers adds its script to :func:`tools_tarball` and runs it as
``[BUSYBOX, "sh", TOOLS_DIR + "/<script>", ...]``.
"""

import functools
import hashlib
import io
import json
import math
import os
import shutil
import struct
import time

from ..host.restarts import MAX_BACKOFF_SECONDS, STABLE_RUN_SECONDS, restart_delay, should_restart
from .holder import ELF_MACHINES, elf_executable, kernel_architecture

#: where process containers see the tools (a read-only volume)
TOOLS_DIR = "/.symphony"
#: where runner containers keep their records (the experiment's state volume, read-write)
STATE_DIR = "/.symphony-state"
BUSYBOX = f"{TOOLS_DIR}/busybox"
RUNNER = f"{TOOLS_DIR}/run"
WAIT = f"{TOOLS_DIR}/wait"
SIGDFL = f"{TOOLS_DIR}/sigdfl"
#: the same folders inside the tools image (a container of it mounts a volume there to fill it)
_IMAGE_TOOLS, _IMAGE_STATE = "symphony", "symphony-state"
#: labels of Symphony's tools image and volume
LABEL_TOOLS = "symphony.tools"
#: where the busybox may be named
BUSYBOX_VARIABLE = "SYMPHONY_BUSYBOX"
_BUSYBOX_PLACES = ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox")
#: how long a launch waits for another one that is filling the tools volume
FILL_TIMEOUT = 60.0

#: machine code of sigdfl: rt_sigaction(SIGINT and SIGQUIT, SIG_DFL); execve(argv[1], argv + 1, envp);
#: exit(127) if that fails. Assembled from:
#: x86_64: mov rbx,rsp; xor eax,eax; push rax x4; mov rsi,rsp; xor edx,edx; mov r10d,8; mov edi,2;
#:         mov eax,13; syscall; mov edi,3; mov eax,13; syscall; mov rax,[rbx]; lea rsi,[rbx+16];
#:         mov rdi,[rsi]; lea rdx,[rbx+rax*8+16]; mov eax,59; syscall; mov edi,127; mov eax,60; syscall
#: aarch64: mov x19,sp; sub sp,sp,#32; stp xzr,xzr,[sp]; stp xzr,xzr,[sp,#16]; (mov x0,#2 | #3;
#:         mov x1,sp; mov x2,#0; mov x3,#8; mov x8,#134; svc #0) x2; ldr x4,[x19]; add x1,x19,#16;
#:         ldr x0,[x1]; add x2,x19,x4,lsl #3; add x2,x2,#16; mov x8,#221; svc #0; mov x0,#127;
#:         mov x8,#93; svc #0
_SIGDFL_CODE = {
    "x86_64": bytes.fromhex(
        "4889e331c0505050504889e631d241ba08000000bf02000000b80d0000000f05bf03000000b80d0000000f05"
        "488b03488d7310488b3e488d54c310b83b0000000f05bf7f000000b83c0000000f05"),
    "aarch64": bytes.fromhex(
        "f3030091ff8300d1ff7f00a9ff7f01a9400080d2e1030091020080d2030180d2c81080d2010000d4"
        "600080d2e1030091020080d2030180d2c81080d2010000d4640240f961420091200040f9620e048b"
        "42400091a81b80d2010000d4e00f80d2a80b80d2010000d4"),
}

RUNNER_SCRIPT = r'''# Symphony's restart runner, run by Symphony's own static busybox: the image needs no shell.
# usage: run DECISION STABLE DELAYS RECORD -- PROGRAM ARGS...
#   DECISION  three digits 0/1: restart after exit 0, after another exit code, after a signal
#   STABLE    a run of this many centiseconds resets the count of quick failures in a row
#   DELAYS    seconds to wait after 0, 1, 2, ... quick failures in a row, comma-separated (the last repeats)
#   RECORD    the file the host reads: "RESTARTS STATE EXIT STARTED FINISHED" (times: centiseconds since
#             the epoch, '-' when unknown; STATE: running, restarting or exited)
# PROGRAM is the runner's child (through sigdfl, so it gets SIGINT and SIGQUIT as a foreground program
# would); SIGTERM, SIGINT and SIGQUIT are passed on to it and end the runner once it ended, without a
# restart (docker stop, delete); SIGHUP, SIGUSR1 and SIGUSR2 are passed on only.
set -f
tools=${0%/*}
decision=$1 stable=$2 delays=$3 record=$4
shift 4
[ "$1" = -- ] && shift
program=$1
shift
case $program in
*/*) path=$program ;;
*)  path=
    IFS=:
    for dir in ${PATH-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
        if [ -f "${dir:-.}/$program" ] && [ -x "${dir:-.}/$program" ]; then
            path=${dir:-.}/$program
            break
        fi
    done
    unset IFS ;;
esac

clock() { read up idle < /proc/uptime; now=${up%.*}${up#*.}; }
clock
boot=$(( $(date +%s) * 100 - now ))
restarts=0
[ -r "$record" ] && read restarts rest < "$record" 2>/dev/null
case $restarts in ''|*[!0-9]*) restarts=0 ;; esac
failures=0 stopping= child= started=-

# the record is written in place by one write (a builtin: no process started for it; a reader that
# finds it empty in between reads again)
note() { printf '%s %s %s %s %s\n' "$restarts" "$1" "$2" "$started" "$3" 2>/dev/null > "$record"; }
forward() {
    signalled=1
    [ -n "$2" ] && stopping=$1
    [ -n "$child" ] && kill -s "$1" "$child" 2>/dev/null
}
trap 'forward TERM stop' TERM
trap 'forward INT stop' INT
trap 'forward QUIT stop' QUIT
trap 'forward HUP' HUP
trap 'forward USR1' USR1
trap 'forward USR2' USR2

# wait for $child to end, its status in $status: a signal passed on meanwhile interrupts `wait`, which
# is then asked again (the shell keeps the status of a child that ended, however often it is asked)
reap() {
    [ -n "$stopping" ] && kill -s "$stopping" "$child" 2>/dev/null
    while :; do
        signalled=
        wait "$child" 2>/dev/null
        status=$?
        [ -z "$signalled" ] && break
    done
    child=
}

while :; do
    clock
    began=$now
    started=$((boot + began))
    note running - -
    if [ -n "$path" ]; then
        "$tools/sigdfl" "$path" "$@" &
        child=$!
        reap
        code=$status
    else
        echo "symphony: $program: not found" >&2
        code=127
    fi
    clock
    ended=$((boot + now))
    if [ -n "$stopping" ]; then note exited "$code" "$ended"; exit "$code"; fi
    if [ "$code" -eq 0 ]; then again=${decision%??}
    elif [ "$code" -gt 128 ]; then again=${decision#??}
    else again=${decision#?}; again=${again%?}
    fi
    if [ "$again" != 1 ]; then note exited "$code" "$ended"; exit "$code"; fi
    if [ $((now - began)) -ge "$stable" ]; then failures=0; else failures=$((failures + 1)); fi
    left=$failures rest=$delays, delay=0
    while [ -n "$rest" ]; do
        delay=${rest%%,*}
        rest=${rest#*,}
        [ "$left" -le 0 ] && break
        left=$((left - 1))
    done
    note restarting "$code" "$ended"
    sleep "$delay" &
    child=$!
    reap
    if [ -n "$stopping" ]; then note exited "$code" "$ended"; exit "$code"; fi
    restarts=$((restarts + 1))
done
'''


WAIT_SCRIPT = r'''# Symphony's start order, run by Symphony's own static busybox: holds a process until the services it
# waits for are ready, then runs it (or the restart runner that runs it).
# usage: wait RECORD HOLD COUNT [SERVICE HOST PORT PATH INTERVAL TIMEOUT LIMIT ON_TIMEOUT]... PROGRAM ARGS...
#   RECORD   the runner's record: "0 waiting - BEGUN - SERVICE" while held, "0 failed 1 BEGUN ENDED REASON"
#            when it gave up (times: centiseconds since the epoch)
#   HOLD     1: after giving up, stay (idle) rather than exit, since the container's restart policy would
#            run the wait again
#   PATH     '-' for a TCP connection (nc), else the path an HTTP GET (wget) must answer 2xx for (bounded by
#            `timeout`: Debian's static busybox wget crashes with its own -T)
#   LIMIT    seconds from the wait's start; ON_TIMEOUT: fail (the process is not run) or start
# Waiting is about the first start only: a record of a run (the engine started the container again) skips it.
set -f
tools=${0%/*}
bb=$tools/busybox
record=$1 hold=$2 count=$3
shift 3
clock() { read up idle < /proc/uptime; now=${up%.*}${up#*.}; }
clock
boot=$(( $(date +%s) * 100 - now ))
begun=$((boot + now))
state=
[ -r "$record" ] && read restarts state rest < "$record" 2>/dev/null
note() { printf '0 %s %s %s %s %s\n' "$1" "$2" "$begun" "$3" "$4" 2>/dev/null > "$record"; }
give_up() {
    note failed 1 "$((boot + now))" "$1"
    echo "symphony: not started: $1" >&2
    if [ "$hold" = 1 ]; then
        trap 'exit 1' TERM INT QUIT
        while :; do sleep 3600 & wait $!; done
    fi
    exit 1
}
reach() {
    if [ "$path" = - ]; then "$bb" nc -w "$timeout" "$host" "$port" -e "$bb" true >/dev/null 2>&1
    else "$bb" timeout "$timeout" "$bb" wget -q -O /dev/null "http://$host:$port$path" >/dev/null 2>&1
    fi
}
case $state in
running|restarting|exited) skip=1 ;;
failed) read restarts state code b e reason < "$record"; now=$((e - boot)); give_up "$reason" ;;
*) skip= ;;
esac
while [ "$count" -gt 0 ]; do
    service=$1 host=$2 port=$3 path=$4 interval=$5 timeout=$6 limit=$7 on_timeout=$8
    shift 8
    count=$((count - 1))
    [ -n "$skip" ] && continue
    deadline=$((begun - boot + limit * 100))
    note waiting - - "$service"
    echo "symphony: waiting for $service ($host:$port), at most ${limit}s" >&2
    until reach; do
        clock
        if [ "$now" -ge "$deadline" ]; then
            reason="$service ($host:$port) not ready after ${limit}s"
            [ "$on_timeout" = fail ] && give_up "$reason"
            echo "symphony: started anyway: $reason" >&2
            break
        fi
        sleep "$interval"
    done
done
if [ "$1" = "$bb" ] && [ "$3" = "$tools/run" ]; then exec "$@"; fi
[ -z "$skip" ] && "$bb" rm -f "$record"
program=$1
shift
case $program in
*/*) exec "$program" "$@" ;;
esac
IFS=:
for dir in ${PATH-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
    if [ -f "${dir:-.}/$program" ] && [ -x "${dir:-.}/$program" ]; then
        unset IFS
        exec "${dir:-.}/$program" "$@"
    fi
done
echo "symphony: $program: not found" >&2
exit 127
'''


# --- the busybox on this machine ---------------------------------------------------------------
class Busybox:
    """A static busybox executable of this machine: its path and (kernel's) architecture."""

    def __init__(self, path, architecture):
        self.path, self.architecture = path, architecture

    @functools.cached_property
    def content(self):
        with open(self.path, "rb") as handle:
            return handle.read()


def _static_architecture(path):
    """The kernel's name of the architecture of the static ELF executable at ``path``, or None."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return None  # not a 64-bit little-endian ELF file
            machine, = struct.unpack_from("<H", header, 18)
            phoff, = struct.unpack_from("<Q", header, 32)
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return None
    if any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum)):
        return None  # PT_INTERP: dynamically linked, it would need the image's libraries
    return next((arch for arch, number in ELF_MACHINES.items() if number == machine), None)


@functools.lru_cache(maxsize=None)
def _busybox_at(path, _stamp):
    architecture = _static_architecture(path)
    return Busybox(path, architecture) if architecture in _SIGDFL_CODE else None


def find_busybox():
    """This machine's static busybox (:class:`Busybox`), or None: ``$SYMPHONY_BUSYBOX`` if set (only it),
    else ``busybox`` on PATH or in the usual places (Debian's ``busybox-static`` installs /bin/busybox)."""
    named = os.environ.get(BUSYBOX_VARIABLE)
    candidates = [named] if named else [shutil.which("busybox"), *_BUSYBOX_PLACES]
    for path in candidates:
        if not path:
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        found = _busybox_at(os.path.realpath(path), (stat.st_size, stat.st_mtime_ns))
        if found is not None:
            return found
    return None


def missing_busybox_reason():
    """Why :func:`find_busybox` found nothing, with the fix, in one line."""
    named = os.environ.get(BUSYBOX_VARIABLE)
    if named:
        return f"${BUSYBOX_VARIABLE} ({named}) is not a static busybox for x86_64 or aarch64"
    return "no static busybox on this machine (install Debian's busybox-static, or set $SYMPHONY_BUSYBOX)"


# --- the image, the volume ---------------------------------------------------------------------
def sigdfl_program(architecture):
    """The static ELF executable ``sigdfl`` for ``architecture`` (the kernel's name)."""
    return elf_executable(ELF_MACHINES[architecture], _SIGDFL_CODE[architecture])


def tools_tarball(busybox):
    """The tools image's files, as a tar archive for ``docker import``."""
    import tarfile  # (not at import: `symphony p` needs none of this)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        def add(name, mode, data=None):
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 0
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        add(_IMAGE_TOOLS, 0o755)
        add(f"{_IMAGE_TOOLS}/busybox", 0o755, busybox.content)
        add(f"{_IMAGE_TOOLS}/run", 0o644, RUNNER_SCRIPT.encode())
        add(f"{_IMAGE_TOOLS}/wait", 0o644, WAIT_SCRIPT.encode())
        add(f"{_IMAGE_TOOLS}/sigdfl", 0o755, sigdfl_program(busybox.architecture))
        add(_IMAGE_STATE, 0o1777)
    return buffer.getvalue()


@functools.lru_cache(maxsize=8)
def _digest(busybox_path, stamp, architecture):
    busybox = Busybox(busybox_path, architecture)
    return hashlib.sha256(tools_tarball(busybox)).hexdigest()[:12]


def tools_digest(busybox):
    stat = os.stat(busybox.path)
    return _digest(busybox.path, (stat.st_size, stat.st_mtime_ns), busybox.architecture)


def tools_image(busybox):
    """The tools image's name: the tag is a hash of its content."""
    return f"symphony-tools:{tools_digest(busybox)}"


def tools_volume(busybox):
    """The volume holding the tools, filled from :func:`tools_image`."""
    return f"symphony-tools-{tools_digest(busybox)}"


def state_volume(experiment):
    """The experiment's volume of runner records."""
    return f"symphony-{experiment}-state"


def _errors():
    from ..engines.docker_api import docker_sdk
    return docker_sdk().errors


def ensure_tools(client, busybox):
    """Make the tools image and fill the tools volume on the engine of ``client``, unless they are there.

    Raises :class:`~symphony.errors.LaunchError` in one line if the engine cannot use them (another
    architecture than the busybox's, or an engine that refuses the import).
    """
    from ..errors import LaunchError
    errors = _errors()
    info = client.version()
    architecture = kernel_architecture(info.get("Arch", "") or client.info().get("Architecture", ""))
    if architecture != busybox.architecture:
        raise LaunchError(f"the busybox {busybox.path} is for {busybox.architecture}, the Docker engine runs "
                          f"{architecture or 'another architecture'}: set ${BUSYBOX_VARIABLE} to a static busybox "
                          f"for the engine's architecture")
    image, volume = tools_image(busybox), tools_volume(busybox)
    try:
        client.api.inspect_image(image)
    except errors.ImageNotFound:
        repository, tag = image.split(":")
        try:
            client.api.import_image_from_data(tools_tarball(busybox), repository=repository, tag=tag,
                                              changes=[f"LABEL {LABEL_TOOLS}=1", 'CMD ["/symphony/busybox", "true"]'])
        except errors.APIError as exc:
            raise LaunchError(f"cannot make Symphony's tools image {image}: {_one_line(exc)}: check that the "
                              f"Docker engine can import images (docker import)") from None
    try:
        created = client.api.inspect_volume(volume).get("CreatedAt")
    except errors.NotFound:
        created = None
    if created and time.time() - _volume_time(created) > FILL_TIMEOUT:
        return  # filled long ago (a fill takes milliseconds)
    _fill(client, image, volume, f"{volume}.fill")


def fill_state_volume(client, busybox, experiment, labels):
    """Create the experiment's state volume, world-writable, through a container removed at once
    (``labels`` on it, so a delete finds it should this launch die in between)."""
    from docker.types import Mount
    name = f"{experiment}._state"   # never a process's: their names are DNS labels, without '_'
    mounts = [Mount(target=f"/{_IMAGE_STATE}", source=state_volume(experiment), type="volume",
                    labels=dict(labels))]
    created = client.api.create_container(
        tools_image(busybox), name=name, labels=dict(labels),
        host_config=client.api.create_host_config(mounts=mounts, network_mode="none"))
    client.api.remove_container(created["Id"], force=True)


def _fill(client, image, volume, name):
    """Fill ``volume`` from ``image`` by creating (then removing) the container ``name``, which mounts it.

    The engine copies the image's files into the volume while it creates the container, and
    keeps the name until it is removed; so a launch that finds the name taken waits for it
    to be free again: then the copy that other launch began is complete.
    """
    from docker.types import Mount
    from ..errors import LaunchError
    errors = _errors()
    mounts = [Mount(target=f"/{_IMAGE_TOOLS}", source=volume, type="volume", labels={LABEL_TOOLS: "1"})]
    deadline = time.monotonic() + FILL_TIMEOUT
    while True:
        try:
            created = client.api.create_container(
                image, name=name, labels={LABEL_TOOLS: "1"},
                host_config=client.api.create_host_config(mounts=mounts, network_mode="none"))
        except errors.APIError as exc:
            if exc.status_code != 409:
                raise LaunchError(f"cannot fill Symphony's tools volume {volume}: {_one_line(exc)}") from None
            if time.monotonic() > deadline:  # left by a launch that died: its copy was complete
                try:
                    client.api.remove_container(name, force=True)
                except errors.NotFound:
                    pass
                deadline = time.monotonic() + FILL_TIMEOUT
            time.sleep(0.1)
            continue
        client.api.remove_container(created["Id"], force=True)
        return


def _volume_time(text):
    """A volume's CreatedAt (RFC 3339 with an offset) -> unix time."""
    from datetime import datetime
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _one_line(exc):
    return " ".join(str(exc.explanation or exc).split())


# --- the runner ---------------------------------------------------------------------------------
def decision(policy, backoff):
    """The restart rule of :mod:`symphony.host.restarts` for one process, as the runner reads it:
    ``(DECISION, STABLE, DELAYS)`` (see :data:`RUNNER_SCRIPT`): the same rule and numbers as the
    local and tmux backends, evaluated here since the container has no Python to ask."""
    restarts = "".join("1" if should_restart(policy, code, killed) else "0"
                       for code, killed in ((0, None), (1, None), (None, "SIGTERM")))
    delays = [restart_delay(backoff, 0)]
    while delays[-1] < MAX_BACKOFF_SECONDS and len(delays) < 64 and backoff > 0:
        delays.append(restart_delay(backoff, len(delays)))
    return restarts, str(int(round(STABLE_RUN_SECONDS * 100))), ",".join(f"{delay:g}" for delay in delays)


def runner_entrypoint(policy, backoff, container_name):
    """What a runner container's entrypoint is; the process's whole argv follows it."""
    restarts, stable, delays = decision(policy, backoff)
    return [BUSYBOX, "sh", RUNNER, restarts, stable, delays, f"{STATE_DIR}/{container_name}", "--"]


def wait_entrypoint(waits, container_name, hold):
    """What a waiting container's entrypoint starts with (:data:`WAIT_SCRIPT`); the runner's entrypoint,
    if any, and the process's argv follow it. ``waits``: the plan's (see ``ContainerPlan.waits``);
    ``hold``: the container's restart policy would run it again after it gave up."""
    args = [BUSYBOX, "sh", WAIT, f"{STATE_DIR}/{container_name}", "1" if hold else "0", str(len(waits))]
    for wait in waits:
        check = wait["check"]
        path = (check["path"] or "/") if check["kind"] == "http" else "-"
        args += [wait["service"], check["host"], str(check["port"]), path, f"{check['interval']:g}",
                 str(max(1, math.ceil(check["timeout"]))), str(max(0, math.ceil(wait["timeout"]))),
                 wait["on_timeout"]]
    return args


def runner_mounts(busybox, experiment, labels):
    """The tools (read-only) and the experiment's state volume, as the plan writes mounts."""
    return [{"type": "volume", "source": tools_volume(busybox), "target": TOOLS_DIR, "read_only": True,
             "no_copy": True},
            {"type": "volume", "source": state_volume(experiment), "target": STATE_DIR, "read_only": False,
             "no_copy": True, "labels": dict(labels)}]


class Record:
    """One runner's record: restarts so far, ``running``/``restarting``/``exited``, the last exit code
    (None while the first run runs), when the current (or last) run started and ended (unix time).
    Before the first start, the wait's: ``waiting`` (since ``started``, for the service in ``detail``)
    or ``failed`` (it gave up, ``detail`` says why)."""

    def __init__(self, restarts, state, exit_code, started, finished, detail=""):
        self.restarts, self.state, self.exit_code = restarts, state, exit_code
        self.started, self.finished, self.detail = started, finished, detail

    def __repr__(self):
        return f"Record({json.dumps(vars(self))})"


def parse_record(text):
    """A record's line -> :class:`Record`, or None if it is not one (a write under way, another file)."""
    words = text.split()
    if len(words) < 5 or words[1] not in ("running", "restarting", "exited", "waiting", "failed") \
            or (len(words) > 5) != (words[1] in ("waiting", "failed")):
        return None

    def number(word, scale=1):
        return None if word == "-" else int(word) / scale
    try:
        return Record(int(words[0]), words[1], None if words[2] == "-" else int(words[2]),
                      number(words[3], 100), number(words[4], 100), " ".join(words[5:]))
    except ValueError:
        return None


def read_local_records(source, attempts=3):
    """The records straight from the state volume's folder on this machine (``source``, the mount's
    Source as the engine reports it), or None if it cannot be read here (an engine elsewhere, in a
    virtual machine, or a folder only root may read): then :func:`read_records` asks the engine."""
    if not source or os.environ.get("DOCKER_HOST", "unix://").partition("://")[0] != "unix":
        return None
    for _ in range(attempts):
        records, torn = {}, False
        try:
            names = os.listdir(source)
        except OSError:
            return None
        for name in names:
            try:
                with open(os.path.join(source, name), errors="replace") as handle:
                    record = parse_record(handle.read())
            except OSError:
                continue  # (being removed)
            if record is None:
                torn = True
            else:
                records[name] = record
        if not torn:
            break
    return records


def read_records(client, container_id, attempts=3):
    """Every record of the state volume, read through the container ``container_id`` that mounts it:
    {container name: :class:`Record`}. One archive request, however many records (another if one was
    caught being written); {} if it fails."""
    import tarfile
    errors = _errors()
    for _ in range(attempts):
        try:
            stream, _ = client.api.get_archive(container_id, STATE_DIR + "/.")
            data = b"".join(stream)
        except (errors.DockerException, OSError):
            return {}
        records, torn = {}, False
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                record = parse_record(archive.extractfile(member).read().decode(errors="replace"))
                if record is None:
                    torn = True
                else:
                    records[member.name.rpartition("/")[2]] = record
        if not torn:
            break
    return records
