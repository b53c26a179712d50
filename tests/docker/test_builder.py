"""DockerBuilder, build on launch and clean_images on a real engine (and a local registry)."""

import os

import pytest

from symphony.addons import DockerBuilder, ImageBuildError, clean_images
from symphony.errors import LaunchError, SpecError

from dockerhelpers import BASE_IMAGE, docker_cluster, leftovers, unique
from waiting import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("dangling_images_removed")]

DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY code /app/code
COPY lib /app/lib
CMD ["cat", "/app/code/main.txt", "/app/lib/lib.txt"]
"""


@pytest.fixture
def sources(tmp_path):
    """Two source checkouts and a Dockerfile: one image needing code from several directories."""
    code, lib = tmp_path / "checkout" / "code", tmp_path / "checkout" / "lib"
    (code / "pkg").mkdir(parents=True)
    lib.mkdir()
    (code / "main.txt").write_text("main v1\n")
    (code / "pkg" / "unchanged.txt").write_text("same\n")
    (lib / "lib.txt").write_text("lib v1\n")
    dockerfile = tmp_path / "checkout" / "DockerfileCPU"
    dockerfile.write_text(DOCKERFILE)
    return tmp_path / "checkout"


def settings(sources, temp, name="cpu-image", force_code=True, force_lib=False, dockerfile="DockerfileCPU"):
    return {"name": name, "temp_directory": str(temp), "verbose": False,
            "dockerfile": str(sources / dockerfile),
            "context_directories": [{"name": "code", "path": str(sources / "code"), "force_update": force_code},
                                    {"name": "lib", "path": str(sources / "lib"), "force_update": force_lib}]}


def run_image(client, image):
    return client.containers.run(image, remove=True, network_mode="none").decode()


def test_build_reuses_or_refreshes_each_context_directory(sources, tmp_path, docker_client, image_repos):
    repo = unique("symphony-test-build")
    image_repos.append(repo)
    builder = DockerBuilder.from_dict(settings(sources, tmp_path / "temp"))
    first = builder.build()
    assert builder.tag(repo, "one") == f"{repo}:one"
    assert run_image(docker_client, f"{repo}:one") == "main v1\nlib v1\n"

    # force_update: true re-copies only what changed; false keeps the cached copy
    (sources / "code" / "main.txt").write_text("main v2\n")
    (sources / "lib" / "lib.txt").write_text("lib v2\n")
    (sources / "code" / "pkg" / "new.txt").write_text("new\n")
    assert builder.prepare_context() == 2  # main.txt and pkg/new.txt; the Dockerfile and unchanged.txt stay
    builder.build()
    builder.tag(repo, "two")
    assert run_image(docker_client, f"{repo}:two") == "main v2\nlib v1\n"
    assert (tmp_path / "temp" / "code" / "pkg" / "new.txt").exists()

    # a name the engine refuses is a build error naming the setting, not a raw API error
    with pytest.raises(ImageBuildError, match=r"^docker tag of 'cpu-image' as Bad_Repo:x failed: .*must be lowercase$"):
        builder.tag("Bad_Repo", "x")

    # nothing changed: Docker's layer cache gives the very same image
    assert DockerBuilder.from_dict(settings(sources, tmp_path / "temp")).build() == builder.image_id != first
    # files removed from the source disappear from the refreshed copy
    os.remove(sources / "code" / "pkg" / "new.txt")
    builder.prepare_context()
    assert not (tmp_path / "temp" / "code" / "pkg" / "new.txt").exists()


def test_paths_expand_the_home_directory(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    builder = DockerBuilder("~/checkout/DockerfileCPU", [{"name": "code", "path": "~/checkout/code"}], "~/temp")
    assert builder.dockerfile == str(sources / "DockerfileCPU")
    assert builder.context_directories[0].path == str(sources / "code")
    assert builder.temp_directory == str(tmp_path / "temp")
    assert builder.context_directories[0].force_update is False and builder.verbose is True


def test_build_error_shows_the_failing_step_and_its_output(sources, tmp_path, docker_client):
    (sources / "Broken").write_text(f"FROM {BASE_IMAGE}\nRUN echo step one\n"
                                    f"RUN printf '\\033[31mboom-output\\033[0m\\n' && exit 7\n")
    builder = DockerBuilder.from_dict(settings(sources, tmp_path / "temp", dockerfile="Broken"))
    with pytest.raises(ImageBuildError, match=r"^docker build of 'cpu-image' failed at step 3/3 ") as failure:
        builder.build()
    message = str(failure.value)
    assert message.splitlines()[0].startswith(
        "docker build of 'cpu-image' failed at step 3/3 (RUN printf '\\033[31mboom-output\\033[0m\\n' && exit 7): ")
    assert "returned a non-zero code: 7" in message.splitlines()[0]
    assert "step one" not in message
    # the step's output as text: its colours stripped, no blank line before it
    first_line, output = message.split("\n--- output of that step ---\n")
    assert "\x1b" not in message and output.splitlines()[0].strip()
    assert "\nboom-output" in output


def test_verbose_build_streams_output_with_a_progress_display(sources, tmp_path, docker_client, capfd):
    builder = DockerBuilder.from_dict({**settings(sources, tmp_path / "temp"), "verbose": True})
    builder.build()
    assert "Step 1/4 : FROM symphony-test-base:latest" in capfd.readouterr().err


def test_bad_settings_are_declaration_errors(sources, tmp_path):
    with pytest.raises(SpecError, match=r"unknown keys \['dockerfle'\]: use name, temp_directory, verbose, dockerfile"):
        DockerBuilder.from_dict({"name": "x", "dockerfle": "D", "temp_directory": "/tmp/x"})
    with pytest.raises(SpecError, match="dockerfile is required"):
        DockerBuilder.from_dict({"name": "x", "temp_directory": "/tmp/x", "context_directories": []})
    with pytest.raises(SpecError, match="context directory .*nowhere.* does not exist: fix its path"):
        DockerBuilder(sources / "DockerfileCPU", [str(sources / "nowhere")], tmp_path / "t").check_sources()
    with pytest.raises(SpecError, match=r"context directories \['code'\] appear twice"):
        DockerBuilder(sources / "DockerfileCPU", [str(sources / "code"), {"name": "code", "path": str(sources / "lib")}],
                      tmp_path / "t")


def test_push_to_the_local_registry_and_pull_it_back_on_launch(sources, tmp_path, docker_client, registry,
                                                             image_repos, new_name):
    repo = f"{registry}/{unique('symphony-test-push')}"
    image_repos.append(repo)
    name = new_name()
    builder = DockerBuilder.from_dict(settings(sources, tmp_path / "temp"))
    builder.build()
    builder.tag(repo, name)
    builder.push(repo, name)
    docker_client.images.remove(f"{repo}:{name}")
    # the Docker backend pulls it back (pull policy Always) and runs it
    cluster = docker_cluster()
    exp = cluster.new_experiment(name)
    exp.new_process("app", container_image=f"{repo}:{name}", args=["cat", "/app/code/main.txt"]).image_pull_policy("Always")
    cluster.launch(exp)
    wait_for(lambda: cluster.describe_experiment(name)[0].state == "exited", timeout=30)
    assert list(cluster.get_log(name, "app")) == ["main v1"]
    with pytest.raises(ImageBuildError, match="docker push of .* failed"):
        builder.tag("127.0.0.1:1/nothing-listens", "x")
        builder.push("127.0.0.1:1/nothing-listens", "x")
    docker_client.images.remove("127.0.0.1:1/nothing-listens:x")


def test_build_on_launch_builds_each_setting_once_and_tags_it_with_the_experiment(
        sources, tmp_path, docker_client, image_repos, image_tags, new_name, monkeypatch, capsys):
    repo = unique("symphony-test-onlaunch")
    name = new_name()
    image_repos.append(repo)
    image_tags.append(f"cpu-image:{name}")  # only this one: cpu-image:* may be anyone's on a shared engine
    builds = []
    real_build = DockerBuilder.build
    monkeypatch.setattr(DockerBuilder, "build", lambda self: builds.append(self.name) or real_build(self))
    cluster = docker_cluster(build_settings=[settings(sources, tmp_path / "temp")])
    exp = cluster.new_experiment(name)
    exp.new_process("a", container_image=repo, build_image="cpu-image", args=["cat", "/app/lib/lib.txt"])
    exp.new_process("b", container_image=f"{repo}:ignored-tag", build_image="cpu-image", args=["cat", "/app/lib/lib.txt"])
    exp.new_process("c", build_image="cpu-image", args=["cat", "/app/code/main.txt"])

    cluster.launch(exp, dry_run=True)
    printed = capsys.readouterr().out
    assert f"- {repo}:{name}" in printed and f"- cpu-image:{name}" in printed and "images to build" in printed
    assert builds == [] and docker_client.images.list(name=repo) == []

    cluster.launch(exp)
    assert builds == ["cpu-image"]
    assert {tag for image in docker_client.images.list() for tag in image.tags} >= {f"{repo}:{name}", f"cpu-image:{name}"}
    images = {c.labels["symphony.process"]: c.attrs["Config"]["Image"]
              for c in docker_client.containers.list(all=True, filters={"label": f"symphony.experiment={name}"})}
    assert images == {"a": f"{repo}:{name}", "b": f"{repo}:{name}", "c": f"cpu-image:{name}"}


@pytest.fixture
def broken_build(sources, tmp_path):
    """A cluster whose build setting 'broken' fails at its second step, and a way to use it."""
    (sources / "Broken").write_text(f"FROM {BASE_IMAGE}\nRUN exit 1\n")
    cluster = docker_cluster(build_settings={"broken": settings(sources, tmp_path / "temp", dockerfile="Broken")})

    def add_built_process(exp):
        exp.new_process("built", container_image=unique("symphony-test-broken"), build_image="broken", cmds=["true"])
    return cluster, add_built_process


def test_a_failed_build_stops_the_launch_before_anything_starts(broken_build, docker_client, new_name):
    cluster, add_built_process = broken_build
    name = new_name()
    exp = cluster.new_experiment(name)
    exp.new_process("ok", container_image=BASE_IMAGE, cmds=["sleep 600"])
    add_built_process(exp)
    with pytest.raises(LaunchError, match="docker build of 'broken' failed at step 2/2"):
        cluster.launch(exp)
    assert leftovers(docker_client, name) == []


def test_a_forced_relaunch_whose_build_fails_keeps_the_running_experiment(broken_build, docker_client, new_name):
    """Images are built before --force deletes anything: a broken build must not cost the user the old run."""
    cluster, add_built_process = broken_build
    name = new_name()
    running = cluster.new_experiment(name)
    running.new_process("ok", container_image=BASE_IMAGE, cmds=["sleep 600"])
    cluster.launch(running)
    before = {s.key: s.started for s in cluster.describe_experiment(name)}
    relaunch = cluster.new_experiment(name)
    add_built_process(relaunch)
    with pytest.raises(LaunchError, match="docker build of 'broken' failed"):
        cluster.launch(relaunch, force=True)
    after = cluster.describe_experiment(name)
    assert {s.key: s.started for s in after} == before and after[0].state == "running"
    cluster.delete(name)
    assert leftovers(docker_client, name) == []


def test_unknown_build_setting_is_a_declaration_error(tmp_path):
    cluster = docker_cluster(build_settings=[])
    exp = cluster.new_experiment("t-unknown")
    exp.new_process("a", container_image="repo", build_image="gpu-image", cmds=["true"])
    with pytest.raises(SpecError, match="process 'a' has build_image='gpu-image' but no docker build setting is named"):
        cluster.launch(exp, dry_run=True)


def test_clean_images_matches_confirms_and_reports_space(docker_client, sources, tmp_path, capsys):
    repo = unique("symphony-test-clean")
    (sources / "Fat").write_text(f"FROM {BASE_IMAGE}\nRUN head -c 3000000 /dev/urandom > /blob\n")
    builder = DockerBuilder.from_dict(settings(sources, tmp_path / "temp", dockerfile="Fat"))
    builder.build()
    for tag in ("exp-1", "exp-2"):
        builder.tag(repo, tag)
    try:
        declined = clean_images([f"{repo}:*"], confirm=lambda prompt: "n")
        assert declined == {"removed": [], "freed_bytes": 0}
        assert len(docker_client.images.list(name=repo)) == 1
        result = clean_images(f"{repo}:exp-*", force=True)
        assert result["removed"] == [f"{repo}:exp-1", f"{repo}:exp-2"]
        assert result["freed_bytes"] >= 3_000_000
        assert docker_client.images.list(name=repo) == []
        assert "freed 3.0 MB" in capsys.readouterr().out
        assert clean_images([f"{repo}:*"], force=True) == {"removed": [], "freed_bytes": 0}
    finally:
        for image in docker_client.images.list(name=repo):
            docker_client.images.remove(image.id, force=True)
