"""The local backend's plan: for each process the exact argv, cwd and environment.

The plan is plain data (``to_dict``/``from_dict``) because the launcher stores it
in the state database and the detached supervisor reads it back from there: the
supervisor executes exactly what ``--dry-run`` prints.
"""

import os

from ..errors import SpecError
from ..host.processes import RUN_ID_VAR

# The resolver and the model are imported where a plan is built, not here: the supervisor reads
# plans back (``LocalPlan.from_dict``) and its start-up is part of every launch's time.


def __getattr__(name):
    """The exec size limits, under the names the host backends knew them by."""
    if name in ("MAX_ARG_STRLEN", "check_exec_size"):
        from ..resolution import limits
        return getattr(limits, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _PlainData:
    """Equality and a repr from the instance's fields, as a dataclass would have them. Not a dataclass:
    the supervisor reads plans back, and :mod:`dataclasses` (with :mod:`inspect` and :mod:`ast`, and the
    code each class generates) would be a good part of its start-up, which every launch waits for."""

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in vars(self).items())})"


class ProcessPlan(_PlainData):
    """One process: ``env`` is added to the launcher's environment (SYMPH_* last, so nothing overrides
    them); ``checks`` are the readiness checks of the services it binds or exposes
    (``ResolvedCheck.to_dict()`` each), ``waits`` the services it is held for before its first start
    (``ResolvedWait.to_dict()`` each)."""

    def __init__(self, key, group, name, argv, cwd, env, restart_policy, log_path, checks=None, waits=None):
        self.key, self.group, self.name = key, group, name
        self.argv, self.cwd, self.env = argv, cwd, env
        self.restart_policy, self.log_path = restart_policy, log_path
        self.checks = [] if checks is None else checks
        self.waits = [] if waits is None else waits


class LocalPlan(_PlainData):
    """What a host backend runs: ``secrets`` are ``[file name, source path]`` pairs copied privately at
    launch, ``not_applied`` the declared settings plain processes do not apply, and why."""

    def __init__(self, backend, experiment, run_id, ports, processes=None, restart_backoff=1.0, grace=5.0,
                 secrets=None, secrets_dir=None, not_applied=None):
        self.backend, self.experiment, self.run_id, self.ports = backend, experiment, run_id, ports
        self.processes = [] if processes is None else processes
        self.restart_backoff, self.grace = restart_backoff, grace
        self.secrets = [] if secrets is None else secrets
        self.secrets_dir = secrets_dir
        self.not_applied = [] if not_applied is None else not_applied

    def to_dict(self):
        """Plain data for the state database, every environment variable the processes share stored once.

        Every process gets every service's address, so with N services each environment holds
        3N variables: stored per process, a plan of 1,000 processes is 100 MB of JSON, written
        by the launch and parsed by the supervisor; shared, it is a few hundred kB.
        (Shallow: ``asdict`` would deep-copy every environment.)"""
        data = dict(vars(self))
        shared = shared_env(self.processes)
        data[SHARED_ENV_KEY] = shared
        data["processes"] = [{**vars(process), "env": _own_env(process.env, shared)} for process in self.processes]
        return data

    @classmethod
    def from_dict(cls, data, whole_env=True):
        """The plan from its stored dict (either form: environments whole, or their shared part apart);
        keys a backend built on this plan adds (tmux: its server) are its own. ``whole_env=False``
        leaves each process only the variables of its own (those of :func:`stored_shared_env` apart)."""
        shared = data.get(SHARED_ENV_KEY) if whole_env else None
        data = {name: value for name, value in data.items() if name in _PLAN_FIELDS}
        data["processes"] = [ProcessPlan(**{**p, "env": {**shared, **p["env"]}} if shared else p)
                             for p in data["processes"]]
        return cls(**data)

    def render(self):
        """The plan as a person reads it: what ``apply`` will run, one block per process."""
        import shlex  # (here, as in describe_check: the supervisor reads plans and never renders one)
        lines = [f"# {self.backend} experiment {self.experiment!r}: {len(self.processes)} processes",
                 "# ports: " + (", ".join(f"{name}={port}" for name, port in sorted(self.ports.items())) or "none")]
        lines += [f"# {note}" for note in self.not_applied]
        # what every process gets (every service's address...) is printed once, not once per process
        shared = shared_env(self.processes) if len(self.processes) > 1 else {}
        if shared:
            lines.append("env of every process:")
            lines += [f"  {name}={shlex.quote(value)}" for name, value in sorted(shared.items())
                      if name != RUN_ID_VAR]
        for process in self.processes:
            lines.append(f"process {process.key}")
            lines.append(f"  command: {shlex.join(process.argv)}")
            lines.append(f"  cwd: {process.cwd}")
            lines.append(f"  restart: {process.restart_policy}")
            lines.append(f"  log: {process.log_path}")
            lines += [f"  ready: {describe_check(check)}" for check in process.checks]
            lines += [f"  waits: {describe_wait(wait)}" for wait in process.waits]
            own = _own_env(process.env, shared) if shared else process.env
            lines.append("  env (besides every process's, above):" if shared else "  env:")
            for name, value in sorted(own.items()):
                if name != RUN_ID_VAR:
                    lines.append(f"    {name}={shlex.quote(value)}")
        return "\n".join(lines)

    def process_meanings(self):
        """key -> :class:`ProcessMeaning`: what each process will run, read back from this plan."""
        from ..resolution.meaning import ProcessMeaning, check_meaning, wait_meaning
        from ..resolution.resolved import ResolvedCheck, ResolvedWait
        return {process.key: ProcessMeaning(argv=list(process.argv), keeps_image_entrypoint=False,
                                            env=dict(process.env), cwd=process.cwd, image=None, resources=None,
                                            restart_policy=process.restart_policy,
                                            checks=[check_meaning(ResolvedCheck.from_dict(c)) for c in process.checks],
                                            waits=[wait_meaning(ResolvedWait.from_dict(w)) for w in process.waits])
                for process in self.processes}

    @property
    def has_readiness(self):
        """Whether anything is checked or held: else the supervisor and ``symphony p`` skip readiness entirely."""
        return any(process.checks or process.waits for process in self.processes)


_PLAN_FIELDS = set(vars(LocalPlan("", "", "", {})))
#: the stored plan's key for the variables every process shares (:meth:`LocalPlan.to_dict`)
SHARED_ENV_KEY = "shared_env"
_ABSENT = object()


def stored_shared_env(data):
    """The variables every process shares, from a stored plan (:meth:`LocalPlan.to_dict`); ``{}`` for a
    plan stored with whole environments."""
    return data.get(SHARED_ENV_KEY) or {}


def shared_env(processes):
    """The variables every one of ``processes`` has, with the same value (service addresses, the
    experiment's env, SYMPH_EXPERIMENT...), in the first process's order."""
    if not processes:
        return {}
    shared = dict(processes[0].env)
    for process in processes[1:]:
        env = process.env
        if not _holds(env, shared):  # (rare: processes with env of their own that overrides a shared name)
            for name in [name for name, value in shared.items() if env.get(name, _ABSENT) != value]:
                del shared[name]
    return shared


def _holds(env, shared):
    """Whether ``env`` has every variable of ``shared`` with the same value. Each environment holds
    every service's address, so this runs once per process over thousands of variables: a subset test
    of the items views, in C and without building anything (a Python loop takes a second at 1,000
    processes, a merged copy to compare half as long again)."""
    return shared.items() <= env.items()


def _own_env(env, shared):
    """The variables of ``env`` that ``shared`` (from :func:`shared_env`: ``env`` holds all of it) does not give it."""
    return {name: env[name] for name in env.keys() - shared.keys()}


def _seconds(value):
    return f"{value:g}s"


def describe_check(check):
    """One line of the plan for a check (a ``ResolvedCheck.to_dict()``): what is probed, and how often."""
    import shlex
    if not check["declared"]:  # (seen in the kernel's list of listening sockets: nothing connects)
        return f"{check['service']}: a socket listens on port {check['port']} (the default check)"
    what = {"tcp": f"tcp {check['host']}:{check['port']}",
            "http": f"http GET http://{check['host']}:{check['port']}{check['path'] or '/'}",
            "command": f"command {shlex.join(check['argv'])}"}[check["kind"]]
    how = (f"every {_seconds(check['interval'])}, timeout {_seconds(check['timeout'])}, "
           f"not ready after {check['failure_threshold']} failures in a row")
    return f"{check['service']}: {what}, {how}"


def describe_wait(wait):
    """One line of the plan for a wait (a ``ResolvedWait.to_dict()``)."""
    action = "do not start it" if wait["on_timeout"] == "fail" else "start it anyway"
    return (f"{wait['service']} (bound by {wait['provider']}) ready, at most {_seconds(wait['timeout'])}, "
            f"then {action}")


def log_path_for(log_dir, key):
    return os.path.join(log_dir, key.replace("/", "__") + ".log")


def build_plan(exp, rule, *, backend, run_id, log_dir, capabilities=None, cluster_preamble=(), shell="/bin/bash",
               restart_backoff=1.0, grace=5.0):
    """Resolve ``exp`` under ``rule`` (this host's ports) and turn every process into a :class:`ProcessPlan`.

    ``capabilities``: the backend's (its Cluster class's); plain processes on this host by default.
    """
    from ..resolution import HOST, Target, resolve, with_backend
    # the launching environment as a plain dict, copied once: every process's exec-size check merges
    # it, and os.environ would decode each variable again for each of them
    target = Target(capabilities=capabilities or with_backend(HOST, backend), shell=shell, cluster_preamble=cluster_preamble,
                    secrets_dir=os.path.join(log_dir, "secrets"), extra_env={RUN_ID_VAR: run_id},
                    inherited_env=dict(os.environ))
    resolved = resolve(exp, rule, target)
    processes = []
    for process in resolved.processes:
        if not process.launch.through_shell and process.argv:
            _check_executable(process.key, process.argv[0], process.cwd, process.env)
        processes.append(ProcessPlan(
            key=process.key, group=process.group, name=process.name, argv=process.argv, cwd=process.cwd,
            env=process.env, restart_policy=process.restart_policy,
            log_path=log_path_for(log_dir, process.key), checks=[check.to_dict() for check in process.checks],
            waits=[wait.to_dict() for wait in process.waits]))
    return LocalPlan(backend=backend, experiment=exp.name, run_id=run_id, ports=resolved.ports(),
                     processes=processes, restart_backoff=restart_backoff, grace=grace,
                     secrets=[[key, path] for key, path in resolved.secrets], secrets_dir=resolved.secrets_dir,
                     not_applied=resolved.not_applied)


def _check_executable(key, program, cwd, env):
    """Catch a misspelt program before anything starts (only for exec form without preamble)."""
    import shutil  # (here: the supervisor reads plans, and its start-up is part of every launch's time)
    path = env.get("PATH", os.environ.get("PATH", os.defpath))
    if os.sep in program:
        candidate = program if os.path.isabs(program) else os.path.join(cwd, program)
        found = os.path.isfile(candidate) and os.access(candidate, os.X_OK)
    else:
        found = shutil.which(program, path=path) is not None
    if not found:
        raise SpecError(f"process {key!r}: program {program!r} not found or not executable "
                        f"(PATH and cwd {cwd}): fix command= or give a full path")
