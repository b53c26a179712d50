"""The original Symphony's declaration calls, read as they meant, or refused in one line with the replacement."""

import pytest

from symphony import ExperimentSpec, ProcessSpec, ProcessGroupSpec
from symphony.errors import DuplicateNameError, SpecError


def test_original_mount_forms():
    p = ExperimentSpec("e").new_process("p", command="python")
    p.mount_empty_dir("cache", True, "/cache")  # the original's (name, use_memory, mount_path)
    p.mount_empty_dir("/scratch")
    p.mount_secret("creds", "/creds", defaultMode=0o400)
    p.mount_host_path("/data", "/data", hostpath_type="Directory")
    p.mount_git_repo("https://example.org/r.git", "main", "/src")
    assert [m["volume"] for m in p.mounts] == [
        {"empty_dir": {"medium": "Memory"}}, {"empty_dir": {}},
        {"raw": {"secret": {"secretName": "creds", "defaultMode": 0o400}}},
        {"host_path": {"path": "/data", "type": "Directory"}},
        {"raw": {"gitRepo": {"repository": "https://example.org/r.git", "revision": "main"}}}]
    with pytest.raises(SpecError, match=r"^process 'p': mount_secret defaultMode must be a file mode"):
        p.mount_secret("creds", "/x", defaultMode="rw")


def test_processes_and_groups_made_on_their_own_are_added():
    exp = ExperimentSpec("e")
    solo = ProcessSpec("solo", ["true"]).binds("svc")
    exp.add_process(solo)
    group = ProcessGroupSpec("g")
    group.add_process(ProcessSpec("member", ["true"]).connects("svc"))
    exp.add_process_group(group)
    assert [p.key for p in exp.list_all_processes()] == ["solo", "g/member"]
    assert exp.get_process("member").parent_process_group is group and solo.parent_experiment is exp
    assert exp.lone_processes == {"solo": solo} and set(exp.all_processes) == {"solo", "g/member"}
    assert solo.binded_services == {"svc": None} and exp.get_process("member").connected_services == {"svc": None}
    exp.validate()
    with pytest.raises(DuplicateNameError):
        exp.add_process(ProcessSpec("solo", ["true"]))
    with pytest.raises(SpecError, match="takes a ProcessSpec that belongs to no experiment or group yet"):
        exp.add_process(solo)


def test_command_forms_and_refusals():
    exp = ExperimentSpec("e")
    p = exp.new_process("p", container_image="img")
    p.set_command(["python", "-u"]).set_args(["run.py"])
    assert (p.command, p.args) == ("python", ["run.py"])
    with pytest.raises(SpecError, match=r"^process 'q': cmd= is one shell line and cmds= a list of them: give one$"):
        exp.new_process("q", ["a"], cmd="b")
    with pytest.raises(SpecError, match=r"yml\(\) is gone: print what a backend would create with "
                                        r"cluster.launch\(exp, dry_run=True\)"):
        p.yml()
    with pytest.raises(SpecError, match=r"set_port\(\) takes a port or 'HOST:CONTAINER'"):
        p.set_port("a:b")
    with pytest.raises(SpecError, match=r"set_ports\(\) takes a list of ports, got 80: use set_port\(\) for one"):
        p.set_ports(80)
