"""``DockerBuilder``: build an image from a Dockerfile and several source directories.

The workflow it serves: a project's image needs code from several checkouts
(``~/surreal/Surreal``, ``~/surreal/Tensorplex``...). Docker only sees one build
context, so the builder assembles one under ``temp_directory``: the Dockerfile plus
each source directory copied to a sub-folder named after it. ``force_update: false``
reuses the copy already there (fast, and Docker's layer cache stays valid);
``force_update: true`` brings the copy up to date, copying only files whose size or
modification time changed and removing files that are gone, so unchanged files keep
hitting Docker's cache.
"""

import os
import re
import shutil
from dataclasses import dataclass

from ..engines.docker_api import docker_client, docker_sdk
from ..errors import LaunchError, SpecError

SETTINGS_KEYS = ("name", "temp_directory", "verbose", "dockerfile", "context_directories")
CONTEXT_KEYS = ("name", "path", "force_update")
DOCKERFILE_NAME = "Dockerfile"


class ImageBuildError(LaunchError):
    """``docker build`` or ``docker push`` failed; the message holds the failing step's output."""


@dataclass
class ContextDirectory:
    """One source directory, copied to ``<temp_directory>/<name>`` in the build context."""

    name: str
    path: str
    force_update: bool = False


def _expand(path):
    return os.path.abspath(os.path.expanduser(str(path)))


def _context_directory(entry, where):
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: each context directory is a mapping {{name, path, force_update}}, got {entry!r}")
    unknown = set(entry) - set(CONTEXT_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown context directory keys {sorted(unknown)}: use {', '.join(CONTEXT_KEYS)}")
    if not entry.get("path"):
        raise SpecError(f"{where}: a context directory needs path: the directory to copy into the build context")
    path = _expand(entry["path"])
    name = entry.get("name") or os.path.basename(path)
    if "/" in name or name in (".", "..", DOCKERFILE_NAME):
        raise SpecError(f"{where}: context directory name {name!r} cannot be used: give a plain folder name "
                        f"other than {DOCKERFILE_NAME!r}")
    force_update = entry.get("force_update", False)
    if not isinstance(force_update, bool):
        raise SpecError(f"{where}: force_update of {name!r} must be true or false, got {force_update!r}")
    return ContextDirectory(name, path, force_update)


class DockerBuilder:
    """Assemble a build context from several directories, build, tag and push the image.

    ``context_directories`` is a list of ``{name, path, force_update}`` mappings (a bare
    path string means ``{path: it}``, named after its last component).
    """

    def __init__(self, dockerfile, context_directories, temp_directory, verbose=True, name=None):
        where = f"docker build setting {name!r}" if name else "DockerBuilder"
        if not dockerfile:
            raise SpecError(f"{where}: dockerfile is required: the path of the Dockerfile to build")
        if not temp_directory:
            raise SpecError(f"{where}: temp_directory is required: a folder that will hold the build context")
        if context_directories is None:
            context_directories = []
        if not isinstance(context_directories, (list, tuple)):
            raise SpecError(f"{where}: context_directories must be a list of {{name, path, force_update}}")
        self.name = name
        self.dockerfile = _expand(dockerfile)
        self.temp_directory = _expand(temp_directory)
        self.verbose = bool(verbose)
        self.context_directories = [_context_directory(entry, where) for entry in context_directories]
        names = [c.name for c in self.context_directories]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(f"{where}: context directories {duplicates} appear twice: give each a distinct name")
        self.image_id = None
        self._client = None

    @classmethod
    def from_dict(cls, settings):
        """Build from one entry of ``docker_build_settings`` (a mapping with the keys of ``SETTINGS_KEYS``)."""
        if not isinstance(settings, dict):
            raise SpecError(f"docker build settings must be a mapping with keys {', '.join(SETTINGS_KEYS)}, got {settings!r}")
        unknown = set(settings) - set(SETTINGS_KEYS)
        if unknown:
            raise SpecError(f"docker build setting {settings.get('name')!r}: unknown keys {sorted(unknown)}: "
                            f"use {', '.join(SETTINGS_KEYS)}")
        return cls(dockerfile=settings.get("dockerfile"),
                   context_directories=settings.get("context_directories"),
                   temp_directory=settings.get("temp_directory"),
                   verbose=settings.get("verbose", True),
                   name=settings.get("name"))

    @property
    def client(self):
        if self._client is None:
            self._client = docker_client()
        return self._client

    # --- the build context --------------------------------------------------------
    def check_sources(self):
        """Raise a SpecError if the Dockerfile or a context directory is missing (nothing is copied)."""
        if not os.path.isfile(self.dockerfile):
            raise SpecError(f"{self._what()}: dockerfile {self.dockerfile} does not exist: fix the dockerfile path")
        for context in self.context_directories:
            if not os.path.isdir(context.path):
                raise SpecError(f"{self._what()}: context directory {context.path} ({context.name}) does not exist: "
                                f"fix its path")

    def prepare_context(self):
        """Assemble the build context; returns how many files were copied."""
        self.check_sources()
        os.makedirs(self.temp_directory, exist_ok=True)
        copied = _sync_file(self.dockerfile, os.path.join(self.temp_directory, DOCKERFILE_NAME))
        for context in self.context_directories:
            target = os.path.join(self.temp_directory, context.name)
            if os.path.exists(target) and not context.force_update:
                continue
            copied += sync_tree(context.path, target)
        return copied

    # --- docker build / tag / push ------------------------------------------------
    def build(self):
        """Build the image (context assembled first); returns its id."""
        self.prepare_context()
        display = _Progress(self.verbose, f"building {self._what()}")
        step_output = []
        current_step = "(before the first step)"
        try:
            stream = self.client.api.build(path=self.temp_directory, dockerfile=DOCKERFILE_NAME,
                                           rm=True, forcerm=True, decode=True)
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    error = chunk.get("error") or chunk["errorDetail"].get("message", "")
                    output = _plain("".join(step_output))
                    raise ImageBuildError(
                        f"docker build of {self._what()} failed at {current_step}: {_plain(error)}"
                        + (f"\n--- output of that step ---\n{output}" if output else ""))
                text = chunk.get("stream", "")
                if text.startswith("Step "):
                    current_step = text.split(" : ", 1)[0].lower() + " (" + text.split(" : ", 1)[-1].strip() + ")"
                    step_output = []
                    display.update(f"building {self._what()}: {text.strip()}")
                elif text:
                    step_output.append(text)
                display.write(text)
                if "aux" in chunk and "ID" in chunk["aux"]:
                    self.image_id = chunk["aux"]["ID"]
        except docker_sdk().errors.APIError as exc:
            raise ImageBuildError(f"docker build of {self._what()} failed: {exc.explanation or exc}") from None
        finally:
            display.stop()
        if self.image_id is None:
            raise ImageBuildError(f"docker build of {self._what()} finished without producing an image")
        return self.image_id

    def tag(self, repo, tag):
        """Tag the built image as ``repo:tag``."""
        self._require_built("tag")
        try:
            self.client.api.tag(self.image_id, repo, tag, force=True)
        except docker_sdk().errors.APIError as exc:
            raise ImageBuildError(f"docker tag of {self._what()} as {repo}:{tag} failed: "
                                  f"{exc.explanation or exc}") from None
        return f"{repo}:{tag}"

    def push(self, repo, tag):
        """Push ``repo:tag`` (tag it first) to its registry."""
        display = _Progress(self.verbose, f"pushing {repo}:{tag}")
        try:
            for chunk in self.client.api.push(repo, tag, stream=True, decode=True):
                if "error" in chunk or "errorDetail" in chunk:
                    error = chunk.get("error") or chunk["errorDetail"].get("message", "")
                    raise ImageBuildError(f"docker push of {repo}:{tag} failed: {error.strip()}")
                if chunk.get("status"):
                    layer = f"{chunk['id']}: " if chunk.get("id") else ""
                    display.update(f"pushing {repo}:{tag}: {layer}{chunk['status']} {chunk.get('progress', '')}")
        except docker_sdk().errors.APIError as exc:
            raise ImageBuildError(f"docker push of {repo}:{tag} failed: {exc.explanation or exc}") from None
        finally:
            display.stop()
        return f"{repo}:{tag}"

    def _require_built(self, action):
        if self.image_id is None:
            raise ImageBuildError(f"cannot {action} {self._what()} before it is built: call build() first")

    def _what(self):
        return repr(self.name) if self.name else self.dockerfile


class _Progress:
    """Streaming build/push output with a live status line (rich, imported only when verbose)."""

    def __init__(self, verbose, title):
        self.status = None
        if verbose:
            from rich.console import Console
            self.console = Console(stderr=True, highlight=False)
            self.status = self.console.status(title)
            self.status.start()

    def update(self, text):
        if self.status is not None:
            self.status.update(text)

    def write(self, text):
        if self.status is not None and text.strip():
            self.console.out(text.rstrip("\n"), style="dim")

    def stop(self):
        if self.status is not None:
            self.status.stop()
            self.status = None


#: terminal control sequences (colours, cursor moves) that build steps print
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def _plain(text):
    """Step output fit for an error message: no terminal escapes, no blank lines around it."""
    lines = _ANSI_ESCAPE.sub("", text).splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _sync_file(source, target):
    """Copy ``source`` over ``target`` unless both have the same size and mtime; 1 if copied."""
    try:
        src, dst = os.stat(source), os.stat(target, follow_symlinks=False)
        if src.st_size == dst.st_size and src.st_mtime_ns == dst.st_mtime_ns:  # copy2 keeps the ns mtime
            return 0
    except FileNotFoundError:
        pass
    _remove(target)  # never write through a symlink or into a directory left where the file goes
    shutil.copy2(source, target)
    return 1


def sync_tree(source, target):
    """Make ``target`` a copy of ``source``, copying only changed files; returns files copied.

    Files whose size and modification time match are left alone (so their mtimes,
    and Docker's cache for them, stay); files and folders missing from ``source``
    are removed; symlinks are copied as links.
    """
    copied = 0
    for directory, subdirs, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        destination = os.path.normpath(os.path.join(target, relative))
        if os.path.islink(destination) or (os.path.exists(destination) and not os.path.isdir(destination)):
            os.remove(destination)
        os.makedirs(destination, exist_ok=True)
        wanted = set(subdirs) | set(files)
        for stale in set(os.listdir(destination)) - wanted:
            path = os.path.join(destination, stale)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        for name in subdirs + files:
            src, dst = os.path.join(directory, name), os.path.join(destination, name)
            if os.path.islink(src):
                if not (os.path.islink(dst) and os.readlink(dst) == os.readlink(src)):
                    _remove(dst)
                    os.symlink(os.readlink(src), dst)
                    copied += 1
            elif name in files:
                copied += _sync_file(src, dst)
        # os.walk does not descend into symlinked directories; they were copied as links above
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(directory, d))]
    return copied


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
