"""examples/docker/run_docker.py, as written, on the real Docker engine: a SymphonyParser subclass whose
``create`` declares the server and clients with the original Docker calls (image as the second
argument, set_hostname, set_env, set_ports). Only the images differ: two small images made here
from the test base image, whose default command plays the server and the client."""

import io
import os
import sys
import tarfile

import pytest

from conftest import run_script

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docker"))
from dockerhelpers import BASE_IMAGE, engine  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.docker]

SERVER_IMAGE, CLIENT_IMAGE = "symphony-compat-server:test", "symphony-compat-client:test"
SERVER = ("import os, socket\n"
          "s = socket.socket(); s.bind(('0.0.0.0', int(os.environ['TEST_PORT']))); s.listen()\n"
          "print('Server initialized', flush=True)\n"
          "while True:\n    c, _ = s.accept(); print('handling', c.recv(100).decode(), flush=True); c.close()\n")
CLIENT = ("import os, time\n"
          "print('Host: {}, Port: {}'.format(os.environ['TEST_HOST'], os.environ['TEST_PORT']), flush=True)\n"
          "time.sleep(100000)\n")

#: examples/docker/run_docker.py as written, with the two image names changed
RUN_DOCKER = """from symphony.commandline import SymphonyParser
from symphony.docker import DockerCluster
from symphony.engine import Cluster

class DockerParser(SymphonyParser):
    def create_cluster(self): # step 1
        # Create a Cluster with Docker Compose backend.
        return Cluster.new('docker')

    def setup(self): # step 2
        super().setup()

        # Subcommand create: `python run_docker.py create`
        # This subcommand is mapped to self.action_create
        parser = self.add_subparser('create')
        parser.add_argument('experiment_name', type=str)

        # Subcommand delete: `python run_docker.py delete`
        # This subcommand is mapped to self.action_delete

    def action_create(self, args):
        cluster = self.cluster

        # Create an Experiment.
        exp = cluster.new_experiment(args.experiment_name)

        # Create server and client processes.
        servers = exp.new_process_group('server-group')
        server1 = servers.new_process('server-1', '%(server)s')

        clients = exp.new_process_group('client-group')

        client1 = clients.new_process('client-1', '%(client)s')
        client1.set_hostname('client-1')
        client1.set_env('TEST_PORT', 1234)
        client1.set_env('TEST_HOST', 'server-group--server-1')

        client2 = exp.new_process('client-2', '%(client)s')
        client2.set_hostname('client-2')
        client2.set_env('TEST_PORT', 1234)
        client2.set_env('TEST_HOST', 'server-group--server-1')

        # Configure ports.
        server1.set_hostname('server-1')
        server1.set_env('TEST_PORT', 1234)
        server1.set_ports(['1234:4321', 10, 55555])

        # Launch.
        cluster.launch(exp)

    def action_delete(self, args):
        cluster = self.cluster
        cluster.delete(args.experiment_name)


if __name__ == '__main__':
    DockerParser().main()
""" % {"server": SERVER_IMAGE, "client": CLIENT_IMAGE}


@pytest.fixture(scope="module")
def images():
    client, why = engine()
    if client is None:
        pytest.skip(why)
    for tag, program in ((SERVER_IMAGE, SERVER), (CLIENT_IMAGE, CLIENT)):
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, text in (("Dockerfile", f'FROM {BASE_IMAGE}\nCOPY run.py /run.py\nCMD ["python3", "-u", "/run.py"]\n'),
                               ("run.py", program)):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return client


def test_run_docker_example(images, write):
    script = write("run_docker.py", RUN_DOCKER)
    # the project's config (not its code): containers that ignore SIGTERM are stopped after 1 s, not 10
    write(".symphony.yml", "backends:\n  docker: {stop_timeout: 1}\n")
    created = run_script(script, "create", "test_exp", timeout=120)
    try:
        assert created.returncode == 0, created.stderr
        assert "note: experiment name 'test_exp' becomes 'test-exp'" in created.stderr
        assert "set_hostname('server-1') is not applied" in created.stderr  # a group shares one host name
        listed = run_script(script, "list-experiments")
        assert "test-exp" in listed.stdout.split(), listed.stderr
        from symphony import Cluster
        cluster = Cluster.new("docker", stop_timeout=1)
        import time
        deadline = time.monotonic() + 30
        while "Server initialized" not in list(cluster.get_log("test-exp", "server-group/server-1")) \
                and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "Server initialized" in run_script(script, "logs", "server-1", "test-exp").stdout
        assert "Host: server-group--server-1, Port: 1234" in list(cluster.get_log("test-exp", "client-2"))
        assert cluster.external_url("test-exp", "port-4321").startswith("http://127.0.0.1:")
    finally:
        deleted = run_script(script, "delete", "test-exp", "-f")
    assert deleted.returncode == 0, deleted.stderr
    assert "test-exp" not in Cluster.new("docker", stop_timeout=1).list_experiments()
