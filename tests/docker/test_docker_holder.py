"""A group's network-namespace holder runs Symphony's own image, whatever the members' images contain."""

import io
import struct
import tarfile

import pytest

from symphony.docker.holder import HOLDER_IMAGE, holder_program, holder_tarball
from waiting import wait_for

from dockerhelpers import BASE_IMAGE, leftovers

# Members of a group reach each other on localhost (one network namespace).
SERVER = """
import socket
server = socket.create_server(("127.0.0.1", 9100))
conn, _ = server.accept()
conn.sendall(b"localhost shared")
"""
CLIENT = """
import socket, time
for _ in range(300):
    try:
        print(socket.create_connection(("127.0.0.1", 9100), timeout=1).recv(100).decode(), flush=True)
        break
    except OSError:
        time.sleep(0.1)
"""


@pytest.mark.parametrize("architecture, machine",
                         [("x86_64", 0x3E), ("amd64", 0x3E), ("aarch64", 0xB7), ("arm64", 0xB7)])
def test_the_holder_program_is_a_static_executable_and_its_image_holds_only_it(architecture, machine):
    program = holder_program(architecture)
    assert program[:4] == b"\x7fELF" and program[4:6] == b"\x02\x01"  # 64-bit, little-endian
    kind, found_machine = struct.unpack_from("<HH", program, 16)
    entry, program_headers = struct.unpack_from("<QQ", program, 24)
    assert (kind, found_machine) == (2, machine)  # a plain executable: no interpreter, nothing to link
    segment_type, flags, offset, address = struct.unpack_from("<IIQQ", program, program_headers)
    assert (segment_type, flags, offset) == (1, 5, 0)
    assert address < entry < address + len(program)
    with tarfile.open(fileobj=io.BytesIO(holder_tarball(architecture))) as archive:
        (member,) = archive.getmembers()
        assert (member.name, member.mode, archive.extractfile(member).read()) == ("pause", 0o755, program)
    with pytest.raises(ValueError, match="no holder program for architecture 's390x'"):
        holder_program("s390x")


@pytest.mark.docker
@pytest.mark.slow
def test_a_group_whose_first_image_has_no_shell_launches_and_shares_localhost(cluster, new_name, docker_client,
                                                                              shell_less_image):
    name = new_name()
    exp = cluster.new_experiment(name)
    pod = exp.new_process_group("pod")
    pod.new_process("quiet", container_image=shell_less_image, command="/pause")
    pod.new_process("server", container_image=BASE_IMAGE, command="python3", args=["-c", SERVER])
    pod.new_process("client", container_image=BASE_IMAGE, command="python3", args=["-c", CLIENT])
    lonely = exp.new_process_group("lonely")  # a group with no shell anywhere in it
    lonely.new_process("only", container_image=shell_less_image, command="/pause")
    cluster.launch(exp)
    wait_for(lambda: list(cluster.get_log(name, "client")) == ["localhost shared"], timeout=60)
    # (the client's line comes a moment before it and the server exit: on a busy machine, seconds)
    expected = {"pod/quiet": "running", "pod/server": "exited", "pod/client": "exited", "lonely/only": "running"}
    wait_for(lambda: {s.key: s.state for s in cluster.describe_experiment(name)} == expected, timeout=60)
    for group, members in (("pod", ("quiet", "server", "client")), ("lonely", ("only",))):
        holder = docker_client.containers.get(f"{name}.{group}")
        assert holder.image.tags == [HOLDER_IMAGE] and holder.status == "running"
        for member in members:
            joined = docker_client.containers.get(f"{name}.{group}.{member}")
            assert joined.attrs["HostConfig"]["NetworkMode"] == f"container:{holder.id}"
    cluster.delete(name)
    assert leftovers(docker_client, name) == []
