"""The original ``Cluster`` methods and call forms, on a real local experiment; the original
command-line spellings; the original declaration forms."""

import pytest

from symphony import Cluster, SymphonyParser
from symphony.errors import SymphonyError

pytestmark = pytest.mark.slow


@pytest.fixture
def running(local_cluster):
    exp = local_cluster.new_experiment("orig")
    exp.new_process("solo", cmd="echo solo-says-hi; sleep 60")
    group = exp.new_process_group("pair")
    group.new_process("left", cmd="echo left-1; echo left-2; sleep 60")
    group.new_process("right", cmd="sleep 60")
    exp.new_process("web", cmd="sleep 60").exposes("dashboard")
    local_cluster.launch_batch([exp])
    import time
    deadline = time.monotonic() + 20
    while "left-2" not in "\n".join(local_cluster.get_log("orig", "pair/left")) and time.monotonic() < deadline:
        time.sleep(0.1)
    yield local_cluster
    if "orig" in local_cluster.list_experiments():
        local_cluster.delete("orig")


def test_original_query_methods(running, capsys):
    cluster = running
    assert cluster.find_process("orig", "left") == ["pair"]
    assert cluster.fuzzy_match_experiment("ori") == (["orig"], False)
    assert cluster.fuzzy_match_experiment("orig") == (["orig"], True)
    assert cluster.fuzzy_match_process("lef", "orig") == ([("pair", "left")], False)
    assert set(cluster.describe_process_group("orig", "pair")) == {"left", "right"}
    assert cluster.describe_process("orig", "left", process_group_name="pair")["state"] == "running"
    # get_log in the original form: the group apart, the log as one text, printed with print_logs
    text = cluster.get_log(experiment_name="orig", process_name="left", process_group="pair", follow=False,
                           since=0, tail=1, print_logs=True)
    assert text == "left-2" and capsys.readouterr().out == "left-2\n"
    assert cluster.get_log("orig", "left", "pair") == "left-1\nleft-2"
    assert list(cluster.get_log("orig", "solo")) == ["solo-says-hi"]  # today's form unchanged
    assert cluster.get_log_when_alive("orig", "solo", sleep_interval=0.1) == "solo-says-hi"
    assert cluster.external_service("orig", "dashboard").startswith("http://127.0.0.1:")
    assert cluster.exec_command(experiment_name="orig", process_name="left", process_group_name="pair",
                                command="test -n \"$SYMPH_EXPERIMENT\"") == 0


def test_transfer_file_and_delete_batch(running, tmp_path):
    cluster = running
    (tmp_path / "in.txt").write_text("payload")
    remote = str(tmp_path / "remote.txt")  # (a local process sees this machine's files)
    cluster.transfer_file("orig", str(tmp_path / "in.txt"), remote, dest_process="left",
                          dest_process_group="pair")
    cluster.transfer_file("orig", remote, str(tmp_path / "out.txt"), src_process="left",
                          src_process_group="pair")
    assert (tmp_path / "out.txt").read_text() == "payload"
    cluster.delete_batch(["orig"])
    assert cluster.list_experiments() == []


def test_prefix_username_and_names_made_dns_labels(local_cluster, capsys):
    from symphony import SymphonyConfig
    SymphonyConfig().set_username("sarah")
    assert local_cluster.prefix_username("rl") == "sarah-rl"
    exp = local_cluster.new_experiment("my_exp.v2")
    assert exp.name == "sarah-my-exp-v2"
    assert "note: experiment name 'my_exp.v2' becomes 'my-exp-v2'" in capsys.readouterr().err
    with pytest.raises(SymphonyError, match="set SYMPHONY_PORT_RANGE=7000-8999 instead"):
        local_cluster.new_experiment("x", port_range=range(7000, 9000))


def test_original_declaration_forms(tmp_path):
    exp = Cluster.new("kube").new_experiment("forms")
    p = exp.new_process("client", container_image="repo/image:latest", command=["python"],
                        args=["-u", "/simple_client.py"])
    assert (p.command, p.args) == ("python", ["-u", "/simple_client.py"])
    assert exp.new_process("s", cmd="python server.py").cmds == ["python server.py"]
    tmux_exp = Cluster.new("tmux").new_experiment("t", start_dir=str(tmp_path), preamble_cmds=["export A=1"])
    assert tmux_exp.new_process("w", cmds=["pwd"]).cwd == str(tmp_path)
    docker_exp = Cluster.new("docker").new_experiment("d")
    server = docker_exp.new_process_group("server-group").new_process("server-1", "docker_server")
    assert server.container_image == "docker_server" and server.cmds == []
    assert docker_exp.new_process("shell", "echo hi", container_image="img").cmds == ["echo hi"]
    server.set_ports(["1234:4321", 10, 55555])
    assert server.exposed == {"port-4321": 4321, "port-10": 10, "port-55555": 55555}


class MyProjectParser(SymphonyParser):
    """A project command built as the original README shows (step 1-3), reading args.experiment_name."""

    def create_cluster(self):
        return Cluster.new("local")

    def setup(self):
        super().setup()
        parser = self.add_subparser("create")
        parser.add_argument("experiment_name", type=str)
        self.add_dry_run(parser)

    def action_create(self, args):
        exp = self.cluster.new_experiment(args.experiment_name)
        exp.new_process("p", cmds=["sleep 60"])
        self.cluster.launch(exp, dry_run=args.dry_run)

    def action_list_processes(self, args):  # an overridden verb reading the original's argument name
        print("listing", args.experiment_name)

    def action_log(self, args):  # the original's method name of the log verb
        print("log of", args.component_name)


def test_parser_subclass_and_original_cli_spellings(local_cluster, capsys):
    parser = MyProjectParser()
    assert parser.main(["create", "my_run"]) == 0
    assert local_cluster.list_experiments() == ["my-run"]
    assert parser.main(["p", "my-run"]) == 0 and "listing my-run" in capsys.readouterr().out
    assert parser.main(["log", "p"]) == 0 and "log of p" in capsys.readouterr().out
    assert parser.main(["d", "my-run", "-dr"]) == 0
    assert "would delete experiment my-run" in capsys.readouterr().out
    assert local_cluster.list_experiments() == ["my-run"]
    assert parser.main(["db", "my-", "-dr"]) == 0 and local_cluster.list_experiments() == ["my-run"]
    assert parser.main(["d", "my-run", "-f"]) == 0 and local_cluster.list_experiments() == []


#: every verb and alias of the original command line
ORIGINAL_VERBS = ["delete", "d", "delete-batch", "db", "scp", "cp", "ssh", "exec", "x", "log", "logs", "l",
                  "list-experiments", "ls", "lse", "switch-experiment", "e", "se", "list-processes", "lsp", "p",
                  "process", "visit", "vi"]


@pytest.mark.parametrize("verb", ORIGINAL_VERBS)
def test_every_original_verb_and_alias_is_there(verb):
    assert MyProjectParser().get_subparser(verb) is not None
