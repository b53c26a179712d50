"""Build on launch: processes that name a build setting instead of a finished image.

``exp.new_process('agent', container_image='us.gcr.io/proj/agent', build_image='cpu-image')``
means: build ``cpu-image`` from ``docker_build_settings`` (the config file's list of
build settings), tag it ``us.gcr.io/proj/agent:<experiment name>`` and run that. Projects
used to do this by hand before every launch; container backends do it here, the same
way for all of them:

* :func:`plan_builds` (no side effects, used by dry runs) decides what to build and
  which tag each process runs; every setting is built **once** however many
  processes use it; a typo in a setting's name, a missing Dockerfile, a tag that is no
  valid image name and two settings tagging one repository are declaration errors;
* :func:`run_builds` builds, tags and (for engines that pull from a registry) pushes,
  before the backend creates anything, so a failed build starts nothing.
"""

from dataclasses import dataclass, field

from ..spec.images import image_reference_problem, split_image
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

    ``build_settings`` may be a list of settings (each with ``name``, as in the config file) or a
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
    """``(builds, images)``: setting name -> :class:`ImageBuild`, process key -> image to run.

    Every tag is checked against Docker's image name grammar here, so a dry run catches a
    name the engine would refuse; and one repository is never tagged by two settings, since
    the same ``<repo>:<experiment>`` tag would make the second build replace the first.
    """
    builds, images, taggers = {}, {}, {}
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
        image = f"{repo}:{exp.name}"
        _check_tag(process, name, image)
        setting, user = taggers.setdefault(repo, (name, process.key))
        if setting != name:
            raise SpecError(
                f"build settings {setting!r} (process {user!r}) and {name!r} (process {process.key!r}) would both "
                f"be tagged {image}, so the second build would replace the first: give their processes distinct "
                f"container_image repositories (e.g. {repo}-{setting} and {repo}-{name})")
        if repo not in build.repos:
            build.repos.append(repo)
        build.processes.append(process.key)
        images[process.key] = image
    return builds, images


def _check_tag(process, setting, image):
    """A one-line SpecError naming where the repository came from when ``image`` is no valid name."""
    problem = image_reference_problem(image)
    if problem is None:
        return
    if process.container_image:
        origin, fix = f"from its container_image {process.container_image!r}", "fix container_image"
    else:
        origin, fix = "named after the build setting", "give the process container_image='<lowercase repository>'"
    raise SpecError(f"process {process.key!r}: the image built from {setting!r} would be tagged {image!r} ({origin}), "
                    f"which is not a valid Docker image name ({problem}): {fix}")


def run_builds(builds, push=False):
    """Build each setting once, tag it for every repo that uses it, push when ``push``."""
    for build in builds.values():
        builder = DockerBuilder.from_dict(build.settings)
        builder.build()
        for repo in build.repos:
            builder.tag(repo, build.tag)
            if push:
                builder.push(repo, build.tag)
