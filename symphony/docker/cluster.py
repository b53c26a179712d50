"""``Cluster.new('docker')``: every process a container on one Docker engine.

The engine is the only state: containers, the network and NFS volumes carry the
label ``symphony.experiment=<name>``, so ``symphony ls``/``p``/``delete`` work from any
terminal and nothing is kept on the side that could go stale. See
:mod:`symphony.docker.plan` for how the model maps onto Docker objects.
"""

import calendar
import functools
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from ..addons.launch_builds import plan_builds, run_builds, settings_lookup
from ..cluster import Cluster, Prepared, pick_process, rollback_shield
from ..cluster.base import setting_seconds
from ..cluster.progress import delete_progress, launch_progress
from ..engines.docker_api import docker_client, docker_sdk
from ..resolution.capabilities import DOCKER
from ..errors import ExperimentExistsError, LaunchError, SymphonyError
from ..host.logs import parse_since
from ..spec.images import split_image
from ..status import ProcessState, ProcessStatus
from . import tools, transfer
from .holder import HOLDER_IMAGE, ensure_holder_image
from .plan import (LABEL_CHECKS, LABEL_EXPERIMENT, LABEL_EXPOSES, LABEL_POSITION, LABEL_PROCESS, LABEL_ROLE, build_plan,
                   waits_refusal)

#: Exit code 128+N means the main process died of signal N, as in a shell.
_SIGNAL_NAMES = {s.value: s.name for s in signal.Signals}
#: seconds to wait for what a launch or delete running at the same time is removing
CONCURRENT_REMOVAL_TIMEOUT = 30
#: how long a network with endpoints left on it is retried (each time after disconnecting them) before giving up
NETWORK_REMOVAL_TIMEOUT = 10
#: engine calls in flight at once when launching, listing or deleting many containers
LAUNCH_THREADS = 8


class DockerCluster(Cluster):
    """Containers on the engine of ``DOCKER_HOST`` (or the local socket).

    ``internal_network=True`` creates experiment networks with no route out of the
    machine; Docker cannot publish ports from such a network, so ``visit`` then
    gives the container's address on the bridge, which this host reaches directly.
    ``build_settings``: docker build settings (a list of settings, each with a ``name``,
    or a mapping name -> settings) for processes declared with ``build_image=``; by
    default they come from the Symphony config file. ``push_built_images``: also push what is built on launch
    (for engines that pull from a registry). ``stop_timeout``: seconds between
    SIGTERM and SIGKILL on delete. ``restart_backoff``: first delay before a restart, doubled per
    quick failure up to 30 s, as on the local and tmux backends: Symphony's restart runner
    restarts the process inside its container (:mod:`symphony.docker.tools`).
    """

    backend_name = "docker"
    capabilities = DOCKER
    runs_on_this_machine = True

    def __init__(self, preamble_cmds=None, internal_network=False, build_settings=None,
                 push_built_images=False, stop_timeout=5, restart_backoff=1.0):
        super().__init__(preamble_cmds)
        self.restart_backoff = setting_seconds("restart_backoff", restart_backoff, "first delay before a restart", 1)
        self.internal_network = bool(internal_network)
        self.build_settings = settings_lookup(build_settings)
        self.push_built_images = bool(push_built_images)
        self.stop_timeout = int(stop_timeout)
        self._client = None

    @property
    def client(self):
        # connected on first use: a dry run needs no engine
        if self._client is None:
            self._client = docker_client()
        return self._client

    # --- plan / apply -------------------------------------------------------------
    def plan(self, exp):
        return self._plan_with_builds(exp)[0]

    def _plan_with_builds(self, exp):
        """(plan, builds to run): the images built on launch are part of the plan."""
        builds, images = plan_builds(exp, self.build_settings)
        plan = build_plan(exp, images=images, cluster_preamble=self.preamble_cmds,
                          internal=self.internal_network, restart_backoff=self.restart_backoff,
                          busybox=tools.find_busybox(),
                          builds=[b.describe(self.push_built_images) for b in builds.values()])
        return plan, builds

    def prepare(self, exp):
        """Build (and push) the images built on launch; the plan and those images."""
        plan, builds = self._plan_with_builds(exp)
        run_builds(builds, push=self.push_built_images)
        return Prepared(plan, frozenset(image for b in builds.values() for image in b.images))

    def apply(self, exp, prepared=None):
        if self._containers(exp.name) or self._networks(exp.name):
            raise self.experiment_exists_error(exp.name)
        prepared = prepared or self.prepare(exp)
        plan = prepared.plan
        self._ensure_images([c for c in plan.containers if c.image not in prepared.images])
        image_configs = self._runner_tools(plan)
        errors = docker_sdk().errors
        network, containers = None, []  # what this launch created: a failure removes these, nothing else
        try:
            self._fault_point("network", plan.network)
            network = self._claim_network(plan.network)
            if image_configs is not None:
                tools.fill_state_volume(self.client, tools.find_busybox(), exp.name,
                                        {LABEL_EXPERIMENT: exp.name, LABEL_ROLE: "state"})
            self._image_configs = image_configs or {}
            # holders first: a group member joins its holder's namespace, which must exist and run
            holders = [c for c in plan.containers if c.labels.get(LABEL_ROLE) == "holder"]
            with launch_progress(exp.name, len(plan.containers), what="containers", state="started") as progress:
                for batch in (holders, [c for c in plan.containers if c.labels.get(LABEL_ROLE) != "holder"]):
                    self._create_and_start(network, batch, containers, progress.advance)
        except BaseException as exc:
            with rollback_shield():
                self._remove_created(exp.name, network, containers)
            if isinstance(exc, errors.APIError):
                raise LaunchError(f"launch of {exp.name!r} failed, nothing was left running: "
                                  f"{exc.explanation or exc}") from None
            raise
        return plan

    def _runner_tools(self, plan):
        """Make the runner's tools on the engine if a container uses them; the image configs those
        containers need ({image: Config}), or None if none uses them.

        A runner container that keeps its image's entrypoint runs it under the runner, so the
        image's ENTRYPOINT and CMD are read here. If the engine cannot take the tools (another
        architecture than this machine's busybox), every container falls back to the engine's
        restarts, and a line on stderr says so.
        """
        runners = [c for c in plan.containers if c.runner is not None or c.waits]
        if not runners:
            return None
        try:
            tools.ensure_tools(self.client, tools.find_busybox())
        except LaunchError as exc:
            waiting = next((c for c in runners if c.waits), None)
            if waiting is not None:  # a wait has no fallback: starting it at once would ignore the wait
                raise LaunchError(waits_refusal(waiting.key, str(exc))) from None
            for container in runners:
                container.without_runner()
            keys = [c.key for c in runners]
            print(f"symphony: {exc}; so the Docker engine restarts {', '.join(keys)} with its own back-off",
                  file=sys.stderr)
            plan.not_applied.append(f"restart_backoff: not applied to {', '.join(keys)}: {exc}")
            return None
        configs = {}
        for image in {c.image for c in runners if c.entrypoint is None}:
            configs[image] = self.client.api.inspect_image(image).get("Config") or {}
        for container in runners:
            if not container.argv(configs.get(container.image)):
                raise LaunchError(f"process {container.key!r} runs nothing: its image {container.image!r} has "
                                  f"neither ENTRYPOINT nor CMD: give it a command")
        return configs

    def _create_and_start(self, network, batch, created, started=lambda: None):
        """Create and start ``batch`` a few at a time; each created container joins ``created`` at once.

        The engine does each container's work (its filesystem, namespace, runc) on its own, so a
        launch of hundreds waits for round trips one after another unless several are in flight;
        a small pool keeps the engine busy without flooding it. After the first failure nothing
        new is begun, what is in flight finishes (and is in ``created``, for the rollback), and
        that failure is raised.
        """
        failed = threading.Event()

        def one(container):
            if failed.is_set():
                return
            try:
                self._fault_point("create", container)
                made = self._past_rivals(network, functools.partial(self._create, container))
                created.append(made)  # (list.append is atomic: the threads share the list)
                self._fault_point("start", container)
                self._past_rivals(network, functools.partial(self.client.api.start, made.id))
                started()
            except BaseException:
                failed.set()
                raise

        if not batch:
            return
        pool = ThreadPoolExecutor(max_workers=min(LAUNCH_THREADS, len(batch)))
        futures = [pool.submit(one, container) for container in batch]
        try:
            wait(futures)
        except BaseException:  # ^C here: begin nothing more, and let the rollback see all that was made
            failed.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error

    @staticmethod
    def _taken(experiment):
        return ExperimentExistsError(
            f"experiment {experiment!r} was launched on the docker backend at the same moment from elsewhere: "
            f"delete it first (`symphony delete {experiment}`), or replace it with --force (force=True in Python)")

    def _create(self, container):
        """Create one container; its name is unique on the engine, so a clash means a racing launch won.

        One round trip (the SDK's ``containers.create`` inspects the new container too): what the
        rest of the launch and its rollback need, the id and the network mode, is known already.
        """
        from docker.models.containers import _create_container_args
        client = self.client
        try:
            image_config = getattr(self, "_image_configs", {}).get(container.image)
            created = client.api.create_container(**_create_container_args(
                {**container.create_kwargs(client, image_config), "version": client.api._version}))
        except docker_sdk().errors.APIError as exc:
            if exc.status_code == 409:
                raise self._taken(container.labels[LABEL_EXPERIMENT]) from None
            raise
        return client.containers.prepare_model({"Id": created["Id"], "Name": f"/{container.container_name}",
                                                "HostConfig": {"NetworkMode": container.network_mode or "default"}})

    def _claim_network(self, network):
        """Create the experiment's network; a second launch of the same name stops here.

        The engine's duplicate check is not atomic: launches racing on one name may each
        create a network of that name. Then the first one created goes on; every later one
        is removed again by its creator (as soon as it sees the first), which reports the
        experiment as existing. The first waits for those removals, since the engine refuses
        to start a container on a network whose name is ambiguous; a rival created only after
        this look is waited out by :meth:`_past_rivals`. (Should two still go on, the container
        names, which the engine does keep unique, stop the second in ``_create``.)
        """
        errors = docker_sdk().errors
        experiment = network["labels"][LABEL_EXPERIMENT]
        try:
            created = self.client.networks.create(network["name"], driver=network["driver"],
                                                  internal=network["internal"], labels=network["labels"],
                                                  check_duplicate=True)
        except errors.APIError as exc:
            if exc.status_code == 409:
                raise self._taken(experiment) from None
            raise

        deadline = time.monotonic() + CONCURRENT_REMOVAL_TIMEOUT
        while True:  # a rival may become visible only after our first look
            try:
                if not self._rivals(created) or time.monotonic() > deadline:
                    return created
            except ExperimentExistsError:
                self._remove_quietly([created.remove])
                raise
            time.sleep(0.05)

    def _rivals(self, network):
        """Other networks of ``network``'s name, from racing launches; raises if one is older (it wins)."""
        experiment = network.attrs["Labels"][LABEL_EXPERIMENT]

        def creation(n):
            return _timestamp(n.attrs["Created"]), n.id
        others = [n for n in self._networks(experiment) if n.name == network.name and n.id != network.id]
        if any(creation(rival) < creation(network) for rival in others):
            raise self._taken(experiment)
        return others

    def _past_rivals(self, network, step):
        """Run a create or start ``step``, waiting out networks of racing launches of the same name.

        A racing launch may create its network just after ours looked for rivals; until its
        creator sees ours is older and removes its own, the engine refuses the name as
        ambiguous. If the rival is the older one, this launch is the one that gives way.
        """
        deadline = time.monotonic() + CONCURRENT_REMOVAL_TIMEOUT
        while True:
            try:
                return step()
            except docker_sdk().errors.APIError as exc:
                if "is ambiguous" not in str(exc.explanation) or time.monotonic() > deadline:
                    raise
            self._rivals(network)
            time.sleep(0.05)

    def _ensure_images(self, containers):
        """Pull what each pull policy asks for, before anything is created; make the groups' holder image."""
        errors = docker_sdk().errors
        if any(c.image == HOLDER_IMAGE for c in containers):
            ensure_holder_image(self.client)
        for image, policy in {(c.image, c.pull_policy) for c in containers}:
            try:
                self.client.images.get(image)
                present = True
            except errors.ImageNotFound:
                present = False
            except errors.APIError as exc:  # a reference this engine refuses: say so in one line
                raise LaunchError(f"cannot use image {image!r}: {_one_line(exc)}: check the name") from None
            if policy == "Never" and not present:
                raise LaunchError(f"image {image!r} is not on the Docker engine and its pull policy is Never: "
                                  f"build or pull it first, or use image_pull_policy('IfNotPresent')")
            if policy == "Always" or not present:
                repo, tag = split_image(image)
                try:
                    self.client.images.pull(repo, tag=tag or "latest")
                except errors.APIError as exc:
                    raise LaunchError(f"cannot pull image {image!r}: {_one_line(exc)}: "
                                      f"check the name, or build it locally first") from None

    # --- delete -------------------------------------------------------------------
    def delete(self, name):
        """Remove the experiment's containers, network and volumes; nothing is left."""
        self.require_experiment(name)
        with delete_progress(name, total=0, what="containers", state="removed") as progress:
            self._remove(name, progress)
        if self.current_experiment() == name:
            self.set_experiment(None)

    def _remove(self, name, progress=None):
        """Remove everything labelled with the experiment (``delete``); ``progress`` counts the containers."""
        containers = self._containers(name)
        if progress is not None:
            progress.phase(len(containers))
        self._stop_and_remove(containers, progress.advance if progress is not None else lambda: None)
        deadline = time.monotonic() + CONCURRENT_REMOVAL_TIMEOUT
        while time.monotonic() < deadline and self._containers(name):
            time.sleep(0.1)  # the network can go only once a delete running at the same time is done
        for network in self._networks(name):
            self._remove_network(network)
        self._remove_volumes(name)

    def _remove_created(self, name, network, containers):
        """Undo a failed launch: only what it created, since the name may belong to a launch that won a race."""
        self._stop_and_remove(containers)
        if network is not None:
            self._remove_network(network)
        if not self._containers(name):  # NFS volumes are shared by the experiment's containers
            self._remove_volumes(name)

    def _remove_volumes(self, name):
        volumes = self.client.volumes.list(filters={"label": f"{LABEL_EXPERIMENT}={name}"})
        self._remove_quietly([functools.partial(volume.remove, force=True) for volume in volumes])

    def _remove_network(self, network):
        """Remove the experiment's network once its containers are gone. What is still attached then
        (a container someone connected by hand, or an endpoint the engine kept after its container
        was removed, a known Docker defect) is disconnected with force: the network is the
        experiment's and goes with it. If the engine still refuses, one line says what is left."""
        errors = docker_sdk().errors
        deadline = time.monotonic() + NETWORK_REMOVAL_TIMEOUT
        while True:
            try:
                network.remove()
                return
            except errors.NotFound:
                return  # removed by a delete running at the same time
            except errors.APIError as exc:
                if "active endpoint" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise SymphonyError(f"Docker keeps endpoints on network {network.name!r} after its containers "
                                        f"were removed: restart the Docker daemon, then run 'docker network rm "
                                        f"{network.name}' (the experiment's containers are gone)") from None
            try:
                network.reload()
            except errors.NotFound:
                return
            for endpoint_id, endpoint in (network.attrs.get("Containers") or {}).items():
                try:
                    network.disconnect((endpoint or {}).get("Name") or endpoint_id, force=True)
                except errors.APIError:
                    pass  # gone meanwhile; the next removal attempt says whether it worked
            time.sleep(0.2)

    @staticmethod
    def _remove_quietly(removals):
        for remove in removals:
            try:
                remove()
            except docker_sdk().errors.NotFound:
                pass  # removed by a delete running at the same time

    def _stop_and_remove(self, containers, removed=lambda: None):
        errors = docker_sdk().errors

        def stop(container):
            try:
                container.stop(timeout=self.stop_timeout)
            except errors.APIError:
                pass  # already stopped or gone

        def remove(container):
            try:
                container.remove(force=True)
            except errors.NotFound:
                pass
            except errors.APIError as exc:
                if exc.status_code != 409:  # 409: a delete running at the same time is removing it
                    raise
            removed()

        # all at once, so deleting takes one grace period however many processes there are
        with ThreadPoolExecutor(max_workers=LAUNCH_THREADS) as pool:
            list(pool.map(stop, containers))
            # joined containers before the owners of their network namespaces
            joined = [c for c in containers if c.attrs["HostConfig"]["NetworkMode"].startswith("container:")]
            for batch in (joined, [c for c in containers if c not in joined]):
                list(pool.map(remove, batch))

    # --- queries ------------------------------------------------------------------
    def _containers(self, name):
        """The experiment's containers in declaration order."""
        errors = docker_sdk().errors
        listed = self.client.api.containers(all=True, filters={"label": f"{LABEL_EXPERIMENT}={name}"})

        def inspect(entry):
            try:
                return self.client.containers.prepare_model(self.client.api.inspect_container(entry["Id"]))
            except errors.NotFound:
                return None  # removed between the engine's list and its inspection (a delete at the same time)

        # the list has no restart counts or start times, so each container is inspected: in parallel,
        # since one by one an experiment of hundreds takes hundreds of round trips in a row
        with ThreadPoolExecutor(max_workers=max(1, min(LAUNCH_THREADS, len(listed)))) as pool:
            containers = [c for c in pool.map(inspect, listed) if c is not None]
        containers.sort(key=lambda c: int(c.labels.get(LABEL_POSITION, 0)))
        return containers

    def _processes(self, name):
        """The containers that run processes (not the groups' namespace holders), after :meth:`_recover`."""
        return [c for c in self._recover(self._containers(name)) if not c.labels.get(LABEL_ROLE)]

    def _recover(self, containers):
        """Start the group containers a restart of the Docker engine left down; ``containers``, up to date.

        When dockerd starts again (after a crash, without live-restore), it stops what still ran and
        starts, all at once, the containers whose restart policy says so. A group member started
        before its holder fails ("cannot join network of a non running container") and Docker does
        not try again: the member would stay down although its policy brings it back. A holder can
        stay down too (Docker counts its own stop as a manual one, so an ``unless-stopped`` holder,
        as experiments launched by earlier versions have, is not restarted), and a group without
        its holder has neither its name nor its ports. So whenever Symphony looks at an experiment,
        a stopped holder none of whose members runs is started, then every member Docker failed to
        start this way (its policy is not Never) whose holder runs. Nothing else is touched: what
        exited, or was stopped by the engine with no policy to restart it, stays as it ended, and
        ``symphony p`` shows how.
        """
        errors = docker_sdk().errors

        def start(container):
            try:
                container.start()
            except errors.APIError:
                pass  # the engine still refuses: the container's state says why
            container.reload()

        holders = {c.id: c for c in containers if c.labels.get(LABEL_ROLE) == "holder"}
        members = {holder: [c for c in containers if _namespace_owner(c) == holder] for holder in holders}
        for holder_id, holder in holders.items():
            if holder.status == "exited" and not any(m.status in ("running", "restarting", "paused")
                                                                   for m in members[holder_id]):
                start(holder)
        for holder_id, holder in holders.items():
            if holder.status != "running":
                continue
            for member in members[holder_id]:
                state = member.attrs["State"]
                if (member.status == "exited" and (state.get("Error") or "").startswith(_HOLDER_DOWN)
                        and member.attrs["HostConfig"]["RestartPolicy"]["Name"] not in ("", "no")):
                    start(member)
        return containers

    def _networks(self, name):
        return self.client.networks.list(filters={"label": f"{LABEL_EXPERIMENT}={name}"})

    def list_experiments(self):
        # the engine's lists carry the labels: no container needs inspecting (every launch asks this,
        # and the engine may hold hundreds of containers of other experiments)
        label = {"label": LABEL_EXPERIMENT}
        names = {n["Labels"][LABEL_EXPERIMENT] for n in self.client.api.networks(filters=label)}
        names |= {c["Labels"][LABEL_EXPERIMENT] for c in self.client.api.containers(all=True, filters=label)}
        return sorted(names)

    def describe_experiment(self, name):
        self.require_experiment(name)
        everything = self._recover(self._containers(name))
        containers = [c for c in everything if not c.labels.get(LABEL_ROLE)]
        records = self._records(containers)
        statuses = [_status(container, records.get(container.name)) for container in containers]
        _check_readiness(everything, containers, statuses)
        return statuses

    def _records(self, containers):
        """The restart runners' records ({container name: record}): from the experiment's state volume's
        folder when the engine runs on this machine and lets this user read it (no request at all), else
        in one archive request through a container that mounts it (a running one if any)."""
        runners = [c for c in containers if _state_mount(c)]
        if not runners:
            return {}
        records = tools.read_local_records(_state_mount(runners[0]).get("Source"))
        if records is not None:
            return records
        runners.sort(key=lambda c: c.status != "running")
        for container in runners[:2]:  # (one removed meanwhile: try another)
            records = tools.read_records(self.client, container.id)
            if records:
                return records
        return {}

    def _container(self, experiment, process):
        """The container of ``process`` (its key, or a name unique in the experiment)."""
        containers = self._processes(self.require_experiment(experiment))
        keys = [(c.labels[LABEL_PROCESS], c) for c in containers]
        return pick_process(experiment, process, [(key, key.rpartition("/")[2], c) for key, c in keys])

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        container = self._container(experiment, process)
        options = {"tail": "all" if tail is None or tail < 0 else int(tail)}
        seconds = parse_since(since)
        if seconds is not None:
            options["since"] = time.time() - seconds
        if follow:
            return _follow(container, options)
        return _lines(container.logs(stream=True, follow=False, **options))

    def exposed_services(self, experiment):
        """What the namespace owners' labels say is exposed (what visit matches against)."""
        return sorted({name for container in self._containers(self.require_experiment(experiment))
                       for name in _exposed(container)})

    def external_url(self, experiment, service):
        containers = self._recover(self._containers(self.require_experiment(experiment)))
        exposed = {}
        for container in containers:
            for name, port in _exposed(container).items():
                exposed[name] = (container, port)
        if service not in exposed:
            raise SymphonyError(f"experiment {experiment!r} exposes no service {service!r}: "
                                f"it exposes {', '.join(sorted(exposed)) or 'none'}")
        container, port = exposed[service]
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
        if bindings:
            return f"http://{bindings[0]['HostIp'] or '127.0.0.1'}:{bindings[0]['HostPort']}"
        networks = container.attrs["NetworkSettings"]["Networks"]
        address = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), None)
        if address is None:
            raise SymphonyError(f"service {service!r} of {experiment!r} is not reachable: its container "
                                f"{container.name} is not running (`symphony p` shows why)")
        return f"http://{address}:{port}"

    # --- exec / ssh / scp -----------------------------------------------------------
    def exec_command(self, experiment, process, argv):
        """Run ``argv`` in the process's container (its env and working directory); its exit code."""
        container = self._running(experiment, process)
        api = self.client.api
        exec_id = api.exec_create(container.id, list(argv), stdout=True, stderr=True)["Id"]
        for out, err in api.exec_start(exec_id, stream=True, demux=True):
            if out:
                sys.stdout.write(out.decode(errors="replace"))
                sys.stdout.flush()
            if err:
                sys.stderr.write(err.decode(errors="replace"))
                sys.stderr.flush()
        return api.exec_inspect(exec_id)["ExitCode"]

    def shell(self, experiment, process):
        """An interactive shell in the container (bash when the image has it), via the docker CLI."""
        container = self._running(experiment, process)
        docker = shutil.which("docker")
        if docker is None:
            raise SymphonyError("symphony ssh on Docker needs the docker command line client: install it "
                                "(Debian: apt-get install docker.io), or use `symphony exec`")
        flags = "-it" if sys.stdin.isatty() else "-i"
        return subprocess.call([docker, "exec", flags, container.id, "/bin/sh", "-c",
                                "command -v bash >/dev/null && exec bash || exec sh"])

    def _running(self, experiment, process):
        container = self._container(experiment, process)
        if container.status != "running":  # (Docker's word for the container's state)
            raise SymphonyError(f"process {container.labels[LABEL_PROCESS]!r} is {container.status}, not running: "
                                f"`symphony logs {container.labels[LABEL_PROCESS]}` shows why")
        return container

    def copy(self, experiment, source, destination):
        """``docker cp`` semantics through the engine's archive API: either end may be a container
        (see :mod:`symphony.docker.transfer`). Returns the destination path."""
        return transfer.copy(functools.partial(self._container, experiment), source, destination)


def _one_line(exc):
    """An engine error's explanation on one line (some span several)."""
    return " ".join(str(exc.explanation or exc).split())


def _lines(chunks):
    """Docker streams log bytes in arbitrary chunks; yield whole lines without newline."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


#: the longest a follower waits on the engine's events before looking at a restarting container again
#: (a restart the engine fails to make is recorded without any event)
RESTART_WAIT = 5.0
#: the pause before attaching again to a run whose stream just ended but which still looks running
SAME_RUN_PAUSE = 0.1


def _follow(container, options):
    """Follow a container's log across the restarts its restart policy makes, as local and tmux do.

    Docker ends a follow stream when the container stops, even when its restart policy
    will start it again. Then, if Docker is restarting it (or already has), this attaches
    again once it runs, from the last line passed on: every frame carries its timestamp
    (nanoseconds), ``since`` starts a little before it, and frames up to it are skipped,
    counting those of that very timestamp, so no line is lost or repeated. It ends when
    the container has ended for good (exited with no restart coming, or removed by
    delete); an engine that goes away ends it with :class:`BackendUnavailableError`.
    """
    position = _Position()
    if options["tail"] == 0:
        # Only what comes after this call: the last line there is now marks where to start (the
        # stream itself opens only when the caller first asks for a line, maybe much later).
        for frame in container.logs(stream=True, follow=False, timestamps=True, tail=1):
            position.passed(_stamped(frame)[0], skip_equal=sys.maxsize)
        options = {**options, "tail": "all"}
        if position.stamp is not None:
            options["since"] = max(options.get("since") or 0, position.resume_since())
    return _following(container, options, position)


def _following(container, options, position):
    errors = docker_sdk().errors
    pending, attached_run, since = b"", None, options.get("since")
    while True:
        run = container.attrs["State"].get("StartedAt")
        if run == attached_run:  # the same run again: its end may not be visible yet, do not spin
            time.sleep(SAME_RUN_PAUSE)
        attached_run = run
        position.rewind()
        stream = None
        try:
            stream = container.logs(stream=True, follow=True, timestamps=True, **options)
            for frame in stream:
                stamp, text = _stamped(frame)
                if not position.is_new(stamp):
                    continue
                pending += text
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
        except errors.NotFound:
            pass  # removed by a delete: the look below ends the follow
        except errors.APIError as exc:
            raise SymphonyError(f"cannot read the output of {container.name}: {_one_line(exc)}") from None
        except _stream_errors():
            pass  # the stream broke: whether the engine is there is what the look below tells
        finally:
            if stream is not None:  # also when the reader stops early (^C, or no more next())
                try:
                    stream.close()
                except (OSError, errors.DockerException):
                    pass  # already closed, or a connection (ssh://) that cannot be closed early
        if not _runs_again(container, errors):
            break
        options = {"tail": "all", "since": position.resume_since() or since}
    if pending:
        yield pending.decode(errors="replace")


def _stream_errors():
    """What a log stream raises when its connection breaks mid-way."""
    import requests
    import urllib3
    return OSError, requests.exceptions.RequestException, urllib3.exceptions.HTTPError


def _runs_again(container, errors):
    """After a follow stream ended: wait while Docker restarts the container; whether it runs again.

    While Docker waits out its restart back-off (up to a minute) the follower waits on the
    engine's events for this container (its start, death or removal), not by asking for its
    state over and over: twenty followers asking ten times a second take engine time the
    restarts themselves need on a busy machine.
    """
    while True:
        looked = time.time()
        try:
            container.reload()
        except errors.NotFound:
            return False  # removed (delete)
        status = container.attrs["State"]["Status"]
        if status in ("running", "paused"):
            return True
        if status != "restarting":  # exited with no restart coming, dead, removing, never started
            return False
        _wait_for_event(container, since=looked, errors=errors)


def _wait_for_event(container, since, errors):
    """Until the engine reports a start, death or removal of ``container`` after ``since`` (unix
    time; events replay from then, so one that came before this call is not missed), at most
    :data:`RESTART_WAIT` seconds: the stream ends by itself then (``until`` in the future)."""
    stream = None
    try:
        stream = container.client.api.events(
            since=f"{since:.9f}", until=f"{time.time() + RESTART_WAIT:.9f}", decode=True,
            filters={"container": container.id, "event": ["start", "die", "destroy"]})
        next(iter(stream), None)
    except (errors.DockerException, *_stream_errors()):
        time.sleep(0.1)  # the look that follows tells what happened (an engine gone fails there)
    finally:
        if stream is not None:
            try:
                stream.close()
            except (OSError, errors.DockerException):
                pass


def _stamped(frame):
    """A log frame asked with ``timestamps=True`` -> ((seconds, nanoseconds), the frame's bytes).

    Each frame is one log message (a line with its newline, or part of a long line), after
    the engine's RFC 3339 time with nine fraction digits and a space.
    """
    stamp, _, text = frame.partition(b" ")
    seconds, _, fraction = stamp.decode("ascii", errors="replace").rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S"))
    return (whole, int(fraction.ljust(9, "0")[:9] or 0)), text


class _Position:
    """How far a followed log has been passed on: the last frame's timestamp, and how many
    frames of exactly that timestamp were passed on (several lines may share one)."""

    def __init__(self):
        self.stamp, self.count = None, 0
        self.skipping, self.to_skip = False, 0

    def passed(self, stamp, skip_equal=1):
        """Mark ``stamp`` as already shown (``skip_equal``: frames of that timestamp to skip)."""
        self.stamp, self.count = stamp, skip_equal

    def rewind(self):
        """A new stream starts: skip what was passed on, until the first frame beyond it."""
        self.skipping, self.to_skip = self.stamp is not None, self.count

    def is_new(self, stamp):
        if self.skipping:
            if stamp < self.stamp:
                return False
            if stamp == self.stamp and self.to_skip > 0:
                self.to_skip -= 1
                return False
            self.skipping = False
        if stamp == self.stamp:
            self.count += 1
        else:
            self.stamp, self.count = stamp, 1
        return True

    def resume_since(self):
        """``since`` for the next stream: just before the last frame passed on (float seconds lose
        nanoseconds, so a microsecond earlier; what comes before it is skipped), or from the start."""
        if self.stamp is None:
            return None
        return self.stamp[0] + self.stamp[1] / 1e9 - 1e-6


#: what Docker records on a group member it could not start because its holder was not running
_HOLDER_DOWN = "cannot join network of a non running container"


def _namespace_owner(container):
    """The id of the container whose network namespace ``container`` joined, or None."""
    mode = container.attrs["HostConfig"].get("NetworkMode") or ""
    return mode[len("container:"):] if mode.startswith("container:") else None


def _exposed(container):
    return json.loads(container.labels.get(LABEL_EXPOSES, "{}"))


def _timestamp(text):
    """Docker's RFC 3339 time (nanoseconds, 'Z') -> unix time; None for the zero time."""
    if not text or text.startswith("0001-"):
        return None
    seconds, _, fraction = text.rstrip("Z").partition(".")
    value = calendar.timegm(time.strptime(seconds, "%Y-%m-%dT%H:%M:%S"))
    return value + float(f"0.{fraction[:6]}") if fraction else value


#: Docker's container states in Symphony's words (anything else, e.g. "dead" or "removing", is lost)
_DOCKER_STATES = {"created": ProcessState.PENDING, "running": ProcessState.RUNNING,
                  "restarting": ProcessState.RESTARTING, "exited": ProcessState.EXITED, "paused": ProcessState.WAITING}


def _state_mount(container):
    """The experiment's state volume as ``container`` mounts it (the engine's Mounts entry), or None:
    only containers that run Symphony's restart runner mount it."""
    return next((m for m in container.attrs.get("Mounts") or () if m.get("Destination") == tools.STATE_DIR), None)


def _check_readiness(everything, containers, statuses):
    """Ready, for a running process with declared checks, is its checks passing now: each is made from
    this machine at its container's address on the experiment's network (a group's holder's), all at
    once, so ``symphony p`` takes one check's time at most. A command check runs in its process's
    environment, so from here its port accepting a connection stands in. The default check (the port
    accepts a connection) is not made, as on Kubernetes: a server that takes exactly one connection
    would take the check's for its peer's; such a process is ready when it runs."""
    checked = [(container, status, json.loads(container.labels[LABEL_CHECKS]))
               for container, status in zip(containers, statuses)
               if status.state is ProcessState.RUNNING and container.labels.get(LABEL_CHECKS)]
    if not checked:
        return
    from ..readiness.probes import probe_http, probe_tcp
    owners = {key: c for c in everything for key in (c.id, c.name)}

    def address(container):
        mode = container.attrs.get("HostConfig", {}).get("NetworkMode") or ""
        if mode.startswith("container:"):
            container = owners.get(mode.partition(":")[2])
        networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {} if container else {}
        return next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), None)

    def make(job):
        host, check = job
        if host is None:
            return False
        if check["kind"] == "http":
            return probe_http(host, check["port"], check["path"] or "/", check["timeout"]).ok
        return probe_tcp(host, check["port"], check["timeout"]).ok
    jobs = [(address(container), check) for container, _, checks in checked for check in checks]
    with ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
        results = iter(list(pool.map(make, jobs)))
    for _, status, checks in checked:
        failing = [check["service"] for check in checks if not next(results)]
        status.checked, status.ready, status.not_ready = True, not failing, failing


def _held(container, key, record):
    """A process its wait script holds (``waiting: replay (not ready 12s)``) or gave up on (``failed``,
    with the one-line reason), from the script's record; a stopped container is no longer held."""
    group, _, name = key.rpartition("/")
    extra = {"container": container.name, "image": container.attrs["Config"]["Image"]}
    state = container.attrs["State"]
    restarts = container.attrs.get("RestartCount", 0)
    if record.state == "failed":
        return ProcessStatus(key=key, group=group, name=name, state=ProcessState.FAILED, restarts=restarts,
                             exit_code=1, started=record.started, finished=record.finished, detail=record.detail,
                             extra=extra)
    if state["Status"] not in ("running", "paused"):
        return ProcessStatus(key=key, group=group, name=name,
                             state=_DOCKER_STATES.get(state["Status"], ProcessState.LOST), restarts=restarts,
                             exit_code=state.get("ExitCode"), started=record.started,
                             finished=_timestamp(state.get("FinishedAt")), detail="stopped while waiting", extra=extra)
    since = record.started if record.started is not None else time.time()
    return ProcessStatus.held(key, group, name, [record.detail], max(0.0, time.time() - since), restarts=restarts,
                              started=None, extra=extra)


def _status(container, record=None):
    """``container``'s status; ``record``: its restart runner's, which tells the restarts made inside
    the container and whether it is running or waiting to restart now."""
    state = container.attrs["State"]
    key = container.labels[LABEL_PROCESS]
    group, _, name = key.rpartition("/")
    if record is not None and record.state in ("waiting", "failed"):
        return _held(container, key, record)
    if record is not None and state["Status"] in ("running", "paused") and record.state != "exited":
        state = {**state, "Status": "restarting" if record.state == "restarting" else state["Status"],
                 "StartedAt": None, "ExitCode": record.exit_code}
    status = ProcessStatus(key=key, group=group, name=name, state=_DOCKER_STATES.get(state["Status"], ProcessState.LOST),
                           restarts=container.attrs.get("RestartCount", 0) + (record.restarts if record else 0),
                           started=_timestamp(state.get("StartedAt")), finished=_timestamp(state.get("FinishedAt")),
                           pid=state.get("Pid") or None, extra={"container": container.name, "image": container.attrs["Config"]["Image"]})
    if state["Status"] == "running":
        status.ready = True
    elif state["Status"] in ("exited", "restarting"):
        # a restarting container's ExitCode is its last run's: the local backend reports that too
        status.exit_code = state.get("ExitCode")
        if state.get("OOMKilled"):
            status.signal, status.detail = "SIGKILL", "OOMKilled"
        elif status.exit_code and status.exit_code - 128 in _SIGNAL_NAMES:
            status.signal = _SIGNAL_NAMES[status.exit_code - 128]
        if status.signal and state["Status"] == "exited":
            status.state = ProcessState.KILLED
    elif state["Status"] == "paused":
        status.detail = "paused"
    if (state.get("Error") or "").startswith(_HOLDER_DOWN):
        status.detail = "the Docker engine could not start it again: its group's holder container was not running"
    elif state.get("Error"):
        status.detail = state["Error"]
    if record is not None and record.started is not None:
        status.started = record.started  # the run's own start, not the container's
    if status.state not in (ProcessState.EXITED, ProcessState.KILLED):
        status.finished = None  # FinishedAt of a restarted container is its previous run's
    return status
