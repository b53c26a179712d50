"""Build on launch: processes that name a build setting instead of a finished image.

``exp.new_process('agent', container_image='us.gcr.io/proj/agent', build_image='cpu-image')``
means: build ``cpu-image`` from ``docker_build_settings`` (seed 000's format), tag it
``us.gcr.io/proj/agent:<experiment name>`` and run that. Seed 003 did this by hand
before every launch; container backends do it here, the same way for all of them:

* :func:`plan_builds` (no side effects, used by dry runs) decides what to build and
  which tag each process runs; every setting is built **once** however many
  processes use it, and a typo in a setting's name or a missing Dockerfile is a
  declaration error;
* :func:`run_builds` builds, tags and (for engines that pull from a registry) pushes,
  before the backend creates anything, so a failed build starts nothing.
"""

from dataclasses import dataclass, field

from ..docker.engine import split_image
from ..errors import SpecError
from .builder import DockerBuilder


@dataclass
class ImageBuild:
    """One build setting to build, and every ``repo:tag`` the processes using it run."""

    setting: str
    settings: dict
    tag: str
    repos: list = field(default_factory=list)
    processes: list = field(default_factory=list)

    @property
    def images(self):
        return [f"{repo}:{self.tag}" for repo in self.repos]

    def describe(self, push):
        """Plain data for a plan's rendering."""
        builder = DockerBuilder.from_dict(self.settings)
        return {"setting": self.setting, "dockerfile": builder.dockerfile,
                "context_directories": {c.name: c.path for c in builder.context_directories},
                "temp_directory": builder.temp_directory, "tags": self.images, "push": push,
                "used_by": list(self.processes)}


def settings_lookup(build_settings=None):
    """A function ``name -> settings dict`` over explicit settings or the Symphony config file.

    ``build_settings`` may be seed 000's list of settings (each with ``name``) or a
    mapping ``name -> settings``. Without it, the Symphony config file's
    ``docker_build_settings`` are used (``SymphonyConfig().get_docker_build_setting``,
    which names the configured settings when one is missing).
    """
    explicit = None
    if build_settings is not None:
        if isinstance(build_settings, dict):
            explicit = {name: {**settings, "name": name} for name, settings in build_settings.items()}
        elif isinstance(build_settings, (list, tuple)) and all(isinstance(s, dict) and s.get("name") for s in build_settings):
            explicit = {settings["name"]: dict(settings) for settings in build_settings}
        else:
            raise SpecError("build_settings must be a list of docker build settings, each with a name, "
                            "or a mapping of names to settings")

    def lookup(name):
        if explicit is not None:
            return explicit.get(name)
        from ..config import SymphonyConfig
        return SymphonyConfig().get_docker_build_setting(name)
    return lookup


def plan_builds(exp, lookup):
    """``(builds, images)``: setting name -> :class:`ImageBuild`, process key -> image to run."""
    builds, images = {}, {}
    for process in exp.list_all_processes():
        if not process.build_image:
            continue
        name = process.build_image
        if name not in builds:
            settings = lookup(name)
            if settings is None:
                raise SpecError(f"process {process.key!r} has build_image={name!r} but no docker build setting "
                                f"is named {name!r}: add it under docker_build_settings in the Symphony config file")
            DockerBuilder.from_dict(settings).check_sources()
            builds[name] = ImageBuild(setting=name, settings=dict(settings), tag=exp.name)
        build = builds[name]
        repo = split_image(process.container_image)[0] if process.container_image else name
        if repo not in build.repos:
            build.repos.append(repo)
        build.processes.append(process.key)
        images[process.key] = f"{repo}:{exp.name}"
    return builds, images


def run_builds(builds, push=False):
    """Build each setting once, tag it for every repo that uses it, push when ``push``."""
    for build in builds.values():
        builder = DockerBuilder.from_dict(build.settings)
        builder.build()
        for repo in build.repos:
            builder.tag(repo, build.tag)
            if push:
                builder.push(repo, build.tag)
