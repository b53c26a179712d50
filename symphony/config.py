"""``SymphonyConfig``: process-wide settings (a singleton: one per Python process).

``set_username('sarah')`` prefixes every new experiment's name (``sarah-rl``), so
people sharing a cluster do not collide; ``set_experiment_folder(dir)`` keeps a
copy of every launched spec under ``dir/<experiment>/``.

The same settings can live in a YAML file, so they need not be repeated in every
script. The first file found wins (files are not merged, so what applies is always
one file you can open):

1. ``./.symphony.yml`` (the project you are in),
2. the file named by ``$SYMPH_GLOBAL_CONFIG``,
3. ``~/.symphony.yml``.

::

    username: sarah
    experiment_folder: ~/experiments   # a relative path is relative to this file
    backend: tmux                 # default for `symphony` and Cluster.new via the CLI
    backends:                     # keyword arguments per backend
      local: {grace: 2.0}
    docker_build_settings:        # read by symphony.addons.DockerBuilder
      - name: cpu-image
        dockerfile: ~/project/DockerfileCPU
        temp_directory: ~/symph_temp/cpu
        context_directories:
          - {name: project, path: ~/project, force_update: true}

An unknown key is an error naming the file and line, never silently ignored: a
misspelt ``usename`` would otherwise quietly launch unprefixed experiments. The
keyword names under ``backends:`` are checked against a backend's constructor when
that backend is created from the file (:meth:`SymphonyConfig.backend_kwargs`), so a
command imports only the backend it uses. The file is read lazily, on first use, so
importing Symphony never touches the disk and ``symphony ls`` pays for YAML only
when a config file exists. Calls such as ``set_username`` always win over the file.

This module knows backends only by name (:mod:`symphony.engines.registry`); it never
imports :mod:`symphony.cluster`, which reads it.
"""

import os

from .engines.registry import backend_parameters, canonical_backend
from .errors import SymphonyError

CONFIG_FILENAME = ".symphony.yml"
GLOBAL_CONFIG_VAR = "SYMPH_GLOBAL_CONFIG"

CONFIG_KEYS = ("username", "experiment_folder", "backend", "backends", "docker_build_settings")
BUILD_SETTING_KEYS = ("name", "dockerfile", "temp_directory", "verbose", "context_directories")
CONTEXT_DIRECTORY_KEYS = ("name", "path", "force_update")


class ConfigError(SymphonyError):
    """A Symphony config file (``.symphony.yml``) is invalid."""


class BuildSettings(dict):
    """``docker_build_settings`` by name; a missing name is an error listing the ones there are."""

    def __missing__(self, name):
        known = ", ".join(sorted(self)) or "none"
        raise ConfigError(f"no docker_build_settings entry named {name!r} (configured: {known}): "
                          f"add one with 'name: {name}' to docker_build_settings in your {CONFIG_FILENAME}")


def config_file_candidates():
    """Where the config file is looked for, in order; the first existing one is used."""
    candidates = [os.path.abspath(CONFIG_FILENAME)]
    if os.environ.get(GLOBAL_CONFIG_VAR):
        candidates.append(os.path.abspath(os.path.expanduser(os.environ[GLOBAL_CONFIG_VAR])))
    candidates.append(os.path.join(os.path.expanduser("~"), CONFIG_FILENAME))
    return candidates


def find_config_file():
    for path in config_file_candidates():
        if os.path.isfile(path):
            return path
    return None


class SymphonyConfig:
    """Singleton: ``SymphonyConfig() is SymphonyConfig()``."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._reset()
            cls._instance = instance
        return cls._instance

    def _reset(self):
        """Back to the state of a fresh process: nothing set, the config file not read yet."""
        self._settings = {"username": None, "experiment_folder": None, "backend": None,
                          "backends": {}, "docker_build_settings": BuildSettings()}
        #: backend -> where its keyword arguments came from in a config file, until they are
        #: checked against its constructor by backend_kwargs: (name as written, mapping, file, line)
        self._unchecked_backends = {}
        self._loaded = False
        self.source = None

    # --- the config file ----------------------------------------------------------
    def _ensure_loaded(self):
        if not self._loaded:
            path = find_config_file()
            if path is not None:
                self.load_file(path)
            self._loaded = True

    def load_file(self, path):
        """Apply the settings of one config file (normally found automatically).

        All or nothing: an invalid file changes no setting, and is reported again
        on the next use rather than half-applied.
        """
        data = _read_yaml_mapping(path)
        lines = getattr(data, "lines", {})
        previous, previous_unchecked = self._settings, self._unchecked_backends
        self._settings = {**previous, "backends": dict(previous["backends"])}
        self._unchecked_backends = dict(previous_unchecked)
        try:
            for key, value in data.items():
                where = f"{path}:{lines.get(key, 1)}"
                if key not in CONFIG_KEYS:
                    raise ConfigError(f"{where}: unknown key {key!r} in the Symphony config: "
                                      f"allowed keys are {', '.join(CONFIG_KEYS)}")
                if key == "experiment_folder" and isinstance(value, str):
                    # relative to the file, so ~/.symphony.yml means the same from any directory
                    value = os.path.join(os.path.dirname(path), os.path.expanduser(value))
                if value is not None:
                    try:
                        if key == "backends":  # checked when a backend is created: remember where they are
                            self._set_backends(value, source=(path, lines.get(key, 1)))
                        else:
                            getattr(self, f"_set_{key}")(value)
                    except SymphonyError as exc:
                        if getattr(exc, "line", None):  # the error knows a more precise line inside the value
                            where = f"{path}:{exc.line}"
                        raise ConfigError(f"{where}: {key}: {exc}") from None
        except BaseException:
            self._settings, self._unchecked_backends = previous, previous_unchecked
            raise
        self._loaded = True
        self.source = path

    # --- username and experiment folder -------------------------------------------
    @property
    def username(self):
        self._ensure_loaded()
        return self._settings["username"]

    @property
    def experiment_folder(self):
        self._ensure_loaded()
        return self._settings["experiment_folder"]

    def set_username(self, name):
        """Prefix every new experiment name with ``name-``."""
        self._ensure_loaded()
        self._set_username(name)

    def _set_username(self, name):
        from .spec.names import check_name
        self._settings["username"] = None if name is None else check_name("user", name)

    def set_experiment_folder(self, folder):
        """Save a copy of every launched experiment's spec under ``folder/<experiment>/``."""
        self._ensure_loaded()
        self._set_experiment_folder(folder)

    def _set_experiment_folder(self, folder):
        if folder is not None and not isinstance(folder, str):
            raise ConfigError(f"experiment_folder must be a directory path, got {folder!r}")
        self._settings["experiment_folder"] = None if folder is None else os.path.abspath(os.path.expanduser(folder))

    def experiment_name(self, name):
        """The name an experiment really gets: ``<username>-<name>`` when a username is set."""
        username = self.username
        if username and not str(name).startswith(username + "-"):
            return f"{username}-{name}"
        return name

    def launched_spec_path(self, exp, force=False, create=True):
        """Where the launched spec will be saved (None without a folder).

        Called before launching, so an existing copy stops the launch before anything starts.
        A dry run passes ``create=False``: the same checks, but no folder is made; the
        nearest existing parent must then be writable.
        """
        if not self.experiment_folder:
            return None
        folder = os.path.join(self.experiment_folder, exp.name)
        path = os.path.join(folder, "experiment.yml")
        if os.path.exists(path) and not force:
            raise SymphonyError(f"{path} already exists from an earlier launch: choose another experiment name, "
                                f"or overwrite it with --force (force=True in Python)")
        if not create:  # a dry run: the same refusals, nothing made
            parent = folder
            while not os.path.exists(parent):
                parent = os.path.dirname(parent)
            if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
                raise SymphonyError(f"cannot create the experiment folder {folder}: {parent} is not a writable "
                                    f"directory: fix set_experiment_folder() / experiment_folder")
            return path
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise SymphonyError(f"cannot create the experiment folder {folder} ({exc.strerror}): "
                                f"fix set_experiment_folder() / experiment_folder") from None
        if not os.access(folder, os.W_OK):
            raise SymphonyError(f"the experiment folder {folder} is not writable: fix its permissions")
        return path

    @staticmethod
    def save_launched_spec(exp, path):
        """Write ``experiment.yml`` at ``path`` (from :meth:`launched_spec_path`)."""
        if path is None:
            return
        from .state import open_private
        with open_private(path, "w") as handle:  # the spec holds env values: owner-only
            exp.dump_yaml(handle)

    # --- default backend and its keyword arguments --------------------------------
    @property
    def backend(self):
        """The configured default backend (canonical name), or None."""
        self._ensure_loaded()
        return self._settings["backend"]

    def set_backend(self, name):
        """Make ``name`` the default backend of the ``symphony`` command."""
        self._ensure_loaded()
        self._set_backend(name)

    def _set_backend(self, name):
        self._settings["backend"] = None if name is None else canonical_backend(name)

    def backend_kwargs(self, backend):
        """Keyword arguments for ``Cluster.new(backend, ...)`` from the ``backends`` section.

        Names from the config file are checked here, against that one backend's constructor
        (which imports that backend, and only it); an unknown one is a :class:`ConfigError`
        naming the file and line.
        """
        self._ensure_loaded()
        backend = canonical_backend(backend)
        unchecked = self._unchecked_backends.get(backend)
        if unchecked is not None:
            name, kwargs, path, line = unchecked
            try:
                _check_backend_keywords(name, backend, kwargs)
            except ConfigError as exc:
                raise ConfigError(f"{path}:{getattr(exc, 'line', None) or line}: backends: {exc}") from None
            del self._unchecked_backends[backend]
        return dict(self._settings["backends"].get(backend, {}))

    def set_backend_kwargs(self, backend, **kwargs):
        """Keyword arguments for ``Cluster.new(backend, ...)`` through the CLI, checked against the
        backend's constructor now: a misspelt keyword would otherwise crash every command later
        with a TypeError from ``Cluster.new``; the values themselves are checked by the constructor."""
        self._ensure_loaded()
        _check_backend_keywords(backend, canonical_backend(backend), kwargs)
        self._set_backends({backend: kwargs})
        self._unchecked_backends.pop(canonical_backend(backend), None)

    def _set_backends(self, backends, source=None):
        """Keyword arguments per backend. Names read from a file (``source``: its path and the
        line of ``backends:``) are checked when that backend is created (:meth:`backend_kwargs`),
        so reading the file imports no backend."""
        if not isinstance(backends, dict):
            raise ConfigError("must map backend names to keyword arguments, e.g. {local: {grace: 2.0}}")
        for name, kwargs in backends.items():
            if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
                from .spec.brief import brief
                raise _located(ConfigError(f"{name}: must be a mapping of keyword arguments, got {brief(kwargs)}"),
                               backends, name)
            backend = canonical_backend(name)
            self._settings["backends"][backend] = dict(kwargs)
            if source is not None:
                self._unchecked_backends[backend] = (name, kwargs, *source)

    # --- docker build settings ----------------------------------------------------
    @property
    def docker_build_settings(self):
        """``name -> settings dict`` (each dict keeps its ``name``), as DockerBuilder.from_dict takes it."""
        self._ensure_loaded()
        return self._settings["docker_build_settings"]

    def get_docker_build_setting(self, name):
        """The build settings called ``name``; a clear error if there is none."""
        return self.docker_build_settings[name]

    def set_docker_build_settings(self, settings):
        """Replace the build settings: a list of dicts with ``name``, or a dict keyed by name."""
        self._ensure_loaded()
        self._set_docker_build_settings(settings)

    def _set_docker_build_settings(self, settings):
        if isinstance(settings, dict):
            settings = [{"name": name, **(entry or {})} if isinstance(entry, dict) or entry is None else entry
                        for name, entry in settings.items()]
        if not isinstance(settings, list):
            raise ConfigError("must be a list of build settings, each with a name and a dockerfile")
        result = BuildSettings()
        for entry in settings:
            entry = _check_build_setting(entry)
            if entry["name"] in result:
                raise ConfigError(f"two entries are named {entry['name']!r}: give each a unique name")
            result[entry["name"]] = entry
        self._settings["docker_build_settings"] = result


def _check_backend_keywords(name, backend, kwargs):
    """A ConfigError (knowing the line of the keyword in a file's mapping) if ``kwargs`` has a
    keyword ``Cluster.new(backend, ...)`` does not take; ``name`` is the backend as written."""
    accepted = backend_parameters(backend)
    unknown = [key for key in kwargs if accepted is not None and key not in accepted]
    if unknown:
        raise _located(ConfigError(f"{name}: unknown keyword {unknown[0]!r} for Cluster.new({backend!r}): "
                                   f"use one of {', '.join(accepted)}"), kwargs, unknown[0])


def _check_build_setting(entry):
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"each entry needs a name, e.g. '- name: cpu-image', got {entry!r}")
    label = f"entry {entry['name']!r}"
    unknown = sorted(set(entry) - set(BUILD_SETTING_KEYS))
    if unknown:
        raise ConfigError(f"{label}: unknown key {unknown[0]!r}: allowed keys are {', '.join(BUILD_SETTING_KEYS)}")
    if not isinstance(entry.get("dockerfile"), str):
        raise ConfigError(f"{label}: needs 'dockerfile: <path to the Dockerfile>'")
    directories = entry.get("context_directories") or []
    if not isinstance(directories, list):
        raise ConfigError(f"{label}: context_directories must be a list of {{name, path, force_update}}")
    for directory in directories:
        if not isinstance(directory, dict) or not isinstance(directory.get("name"), str) \
                or not isinstance(directory.get("path"), str):
            raise ConfigError(f"{label}: each context directory needs a name and a path, got {directory!r}")
        unknown = sorted(set(directory) - set(CONTEXT_DIRECTORY_KEYS))
        if unknown:
            raise ConfigError(f"{label}: context directory {directory['name']!r}: unknown key {unknown[0]!r}: "
                              f"allowed keys are {', '.join(CONTEXT_DIRECTORY_KEYS)}")
    return {**entry, "context_directories": [dict(d) for d in directories]}


def _located(error, mapping, key):
    """``error`` marked with the line of ``key`` in ``mapping`` (when read from the file), for load_file."""
    error.line = (getattr(mapping, "lines", None) or {}).get(key)
    return error


def _read_yaml_mapping(path):
    """The mapping a config file holds; each mapping read knows its keys' lines (``.lines``).
    Errors, a repeated key among them, name the file and line.

    What a file's text reads as is kept in ``$SYMPHONY_HOME/config-cache/`` (with the
    text itself), so a command run again with the same file does not load the YAML
    parser: ``symphony p`` would otherwise spend a good part of its time on it. The
    settings are checked again on every run, from the same data and lines.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the Symphony config {path}: {exc.strerror}") from None
    data = _DocumentCache(path).get(text)
    if data is _DocumentCache.MISSING:
        import yaml
        from .spec.serialize import read_yaml, yaml_error_text
        try:
            data = read_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{yaml_error_text(exc, path)} (in the Symphony config)") from None
        _DocumentCache(path).put(text, data)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the Symphony config must be a mapping of settings, e.g. 'username: sarah'")
    return data


class _LineMapping(dict):
    """A mapping read back from the cache, knowing its keys' lines as the YAML reader's mappings do."""

    lines = None


class _Uncacheable(Exception):
    """The document holds something JSON cannot carry exactly (a date, a non-string key...)."""


class _DocumentCache:
    """What one config file's text reads as, in ``$SYMPHONY_HOME/config-cache/``: a JSON file
    holding the text and the document, mappings with their keys' lines.

    An entry is used only for exactly the text it was made from, so an edited file is read
    again; a document JSON cannot carry exactly is not cached; anything wrong with the cache
    (unreadable, unwritable, from another format) means reading the file as if there were none.
    """

    #: change when what reading a file yields changes (another reader, other line numbers)
    FORMAT = 1
    MISSING = object()

    def __init__(self, path):
        self.path = path

    def _entry_path(self, create):
        from .state import private_dir, symphony_home
        directory = os.path.join(symphony_home(), "config-cache")
        if create:
            private_dir(directory)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in os.path.abspath(self.path).strip(os.sep))
        return os.path.join(directory, f"{name}.json")

    def get(self, text):
        import json
        try:
            with open(self._entry_path(create=False), encoding="utf-8") as handle:
                entry = json.load(handle)
            if entry["format"] != self.FORMAT or entry["text"] != text:
                return self.MISSING
            return _decode(entry["document"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SymphonyError):
            return self.MISSING

    def put(self, text, data):
        import json
        try:
            entry = {"format": self.FORMAT, "text": text, "document": _encode(data)}
            if _decode(entry["document"]) != data:  # (e.g. a NaN, equal to nothing)
                return
            target = self._entry_path(create=True)
            from .state import open_private
            temporary = f"{target}.{os.getpid()}.tmp"
            with open_private(temporary, "w") as handle:
                json.dump(entry, handle)
            os.replace(temporary, target)  # readers see the old entry or the new one, never half of one
        except (OSError, _Uncacheable, SymphonyError, RecursionError):
            pass


def _encode(value):
    """JSON for a document: a mapping is {"m": items, "l": lines}, a list {"s": items}."""
    if isinstance(value, dict):
        if not all(type(key) is str for key in value):
            raise _Uncacheable()
        return {"m": {key: _encode(item) for key, item in value.items()},
                "l": dict(getattr(value, "lines", None) or {})}
    if isinstance(value, list):
        return {"s": [_encode(item) for item in value]}
    if value is None or type(value) in (str, int, float, bool):
        return value
    raise _Uncacheable()


def _decode(value):
    if isinstance(value, dict):
        if "s" in value:
            return [_decode(item) for item in value["s"]]
        mapping = _LineMapping((key, _decode(item)) for key, item in value["m"].items())
        mapping.lines = dict(value["l"])
        return mapping
    return value


#: the environment variable that names the backend when ``-b`` does not
BACKEND_VAR = "SYMPHONY_BACKEND"
DEFAULT_BACKEND = "local"


def selected_backend(option: "str | None" = None) -> str:
    """The backend a command acts on: ``option`` (``-b``), else ``$SYMPHONY_BACKEND``, else the
    config file's ``backend``, else ``local``. (Here, not in the CLI, because the dashboard picks
    its backends the same way.)"""
    if option:
        return option
    if os.environ.get(BACKEND_VAR):
        return os.environ[BACKEND_VAR]
    return SymphonyConfig().backend or DEFAULT_BACKEND
