"""What ``symphony launch FILE`` accepts: a YAML/JSON experiment file or a Python file.

* ``.yml``/``.yaml``/``.json``: the plain-data form of the model
  (:mod:`symphony.spec.serialize`), validated with line numbers. Relative paths of
  this machine — ``cwd`` on local and tmux, host-path mount sources on local, tmux and
  Docker — are relative to the file's directory, as paths in a compose file are, so
  the file launches the same from any directory. A container's ``cwd`` is a path inside
  the container and is left alone (Docker and Kubernetes refuse a relative one).
* ``.py``: the file is run as a module (not as ``__main__``) and must define
  ``experiment`` (an :class:`~symphony.spec.ExperimentSpec`) or ``build(cluster)``
  returning one. A file that calls ``cluster.launch`` while being loaded is stopped
  before anything starts: the CLI launches, with the CLI's ``--force``/``--dry-run``.

Either way the configured username prefixes the name, as ``cluster.new_experiment``
does, so a file shared by a team does not make people collide.
"""

import contextlib
import os
import sys
import traceback

from ..errors import SpecError, SymphonyError

DATA_SUFFIXES = (".yml", ".yaml", ".json")


def load_experiment_file(path, cluster):
    """The :class:`~symphony.spec.ExperimentSpec` declared by ``path``, ready for ``cluster.launch``."""
    if not os.path.isfile(path):
        raise SymphonyError(f"no experiment file {path!r}: give the path of a .yml, .json or .py file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in DATA_SUFFIXES:
        from ..spec import load_json, load_yaml
        exp = (load_json if suffix == ".json" else load_yaml)(path, validate=True)
        anchor_relative_paths(exp, os.path.dirname(os.path.abspath(path)), cluster)
    elif suffix == ".py":
        exp = _experiment_from_python(path, cluster)
    else:
        raise SymphonyError(f"cannot launch {path!r}: use a .yml, .yaml, .json or .py experiment file")
    _apply_username(exp)
    return exp


def anchor_relative_paths(exp, directory, cluster):
    """Make the relative paths of this machine relative to ``directory`` (the experiment file's)."""
    def anchored(path):
        if path and not os.path.isabs(os.path.expanduser(path)):
            return os.path.normpath(os.path.join(directory, path))
        return path
    for process in exp.list_all_processes():
        if not cluster.runs_in_containers:
            process.cwd = anchored(process.cwd)
    if cluster.runs_on_this_machine:
        owners = exp.list_all_processes() + exp.list_process_groups()
        for mount in (m for owner in owners for m in owner.mounts):
            if "host_path" in mount["volume"]:
                mount["volume"]["host_path"]["path"] = anchored(mount["volume"]["host_path"]["path"])


def _apply_username(exp):
    from ..config import SymphonyConfig
    from ..spec.names import check_name
    exp.name = check_name("experiment", SymphonyConfig().experiment_name(exp.name))


class _LaunchWhileLoading(SymphonyError):
    pass


@contextlib.contextmanager
def _launch_refused(path):
    """While the file loads, ``Cluster.launch`` raises instead of starting anything."""
    from ..cluster import Cluster
    original = Cluster.launch

    def refuse(*args, **kwargs):
        raise _LaunchWhileLoading(
            f"{path} calls cluster.launch() while being loaded: move it under "
            f"`if __name__ == '__main__':` and define `experiment` or `build(cluster)` for `symphony launch`")
    Cluster.launch = refuse
    try:
        yield
    finally:
        Cluster.launch = original


def _experiment_from_python(path, cluster):
    import runpy
    from ..spec import ExperimentSpec
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))  # sibling modules import as under `python file.py`
    try:
        with _launch_refused(path):
            namespace = _run_user_code(path, lambda: runpy.run_path(path, run_name="__symphony_experiment__"))
            if isinstance(namespace.get("experiment"), ExperimentSpec):
                return namespace["experiment"]
            if callable(namespace.get("build")):
                exp = _run_user_code(path, lambda: namespace["build"](cluster))
                if not isinstance(exp, ExperimentSpec):
                    raise SpecError(f"{path}: build(cluster) returned {type(exp).__name__}, not an ExperimentSpec: "
                                    f"return the experiment it builds")
                return exp
    finally:
        sys.path.remove(os.path.dirname(path))
    raise SpecError(f"{path} defines neither `experiment` (an ExperimentSpec) nor `build(cluster)`: add one of them")


def _run_user_code(path, call):
    """Run the user's code; its own bugs become one line naming the file and line."""
    try:
        return call()
    except SymphonyError:
        raise
    except SyntaxError as exc:
        raise SpecError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - any error of user code is reported the same way
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == path]
        where = f"{path}:{frames[-1].lineno}" if frames else path
        raise SpecError(f"{where}: {type(exc).__name__}: {exc}") from None
