"""SymphonyParser as projects use it: a project CLI with its own `create` verb."""

import subprocess
import sys
import textwrap

import pytest

from symphony.cli.main import SymphonyCommand
from symphony.commandline import SymphonyParser

from clihelpers import cli_env, parse_table, wait_for

MYPROJECT = textwrap.dedent('''
    """myproject: launch and watch our experiments."""
    from symphony.commandline import SymphonyParser
    from symphony.engine import SymphonyConfig, Cluster


    class MyProjectParser(SymphonyParser):
        def create_cluster(self):
            return Cluster.new('local', grace=1.0)

        def setup(self):
            super().setup()
            parser = self.add_subparser('create', aliases=['c'])
            parser.add_argument('experiment_name')
            parser.add_argument('--agents', type=int, default=2)
            parser.add_argument('--dry-run', action='store_true')
            self.get_subparser('p').add_argument('--wide', action='store_true')

        def action_create(self, args):
            """Create an experiment: one learner and N agents."""
            exp = self.cluster.new_experiment(args.experiment_name)
            print('would build from', self.docker_build_settings['cpu-image']['dockerfile'])
            learner = exp.new_process('learner', cmds=['echo learner on $SYMPH_REPLAY_SERVER_PORT', 'sleep 60'])
            learner.binds('replay-server')
            learner.exposes('tensorboard')
            for i in range(args.agents):
                agent = exp.new_process('agent-{}'.format(i), command='sleep', args=['60'])
                agent.connects('replay-server')
            self.cluster.launch(exp, dry_run=args.dry_run)


    if __name__ == '__main__':
        SymphonyConfig().set_username('sarah')
        MyProjectParser().main()
''')


def myproject(path, *argv):
    return subprocess.run([sys.executable, str(path), *argv], capture_output=True, text=True, timeout=60,
                          env=cli_env())


@pytest.mark.slow
def test_a_project_parser_end_to_end(tmp_path, isolated_config):
    script = tmp_path / "myproject.py"
    script.write_text(MYPROJECT)
    (isolated_config / ".symphony.yml").write_text(
        "docker_build_settings:\n  - name: cpu-image\n    dockerfile: ~/project/DockerfileCPU\n")
    result = myproject(script, "--help")
    assert result.returncode == 0 and "create (c)" in result.stdout and "Create an experiment" in result.stdout

    result = myproject(script, "create", "rl", "--dry-run")
    assert result.returncode == 0 and "process agent-1" in result.stdout
    assert "would build from ~/project/DockerfileCPU" in result.stdout
    assert myproject(script, "ls").stdout == ""

    result = myproject(script, "create", "rl", "--agents", "3")
    assert result.returncode == 0, result.stderr
    assert myproject(script, "ls").stdout.split() == ["sarah-rl"]
    result = myproject(script, "p", "--wide")
    assert result.returncode == 0, result.stderr
    assert [row["Name"] for row in parse_table(result.stdout)] == ["learner", "agent-0", "agent-1", "agent-2"]
    assert wait_for(lambda: "learner on " in myproject(script, "logs", "learner").stdout)
    assert myproject(script, "vi", "tensorboard", "-u").stdout.startswith("http://127.0.0.1:")
    result = myproject(script, "p", "nosuch")  # hints name this command, not `symphony`
    assert result.returncode == 1 and "`myproject.py ls` lists the experiments" in result.stderr

    result = myproject(script, "c", "rl")  # the alias; the experiment is already running
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "myproject.py: error: experiment 'sarah-rl' is already running on the local backend: "
        "delete it first (`symphony delete sarah-rl`), or replace it with --force (force=True in Python)"]
    assert myproject(script, "delete", "-f", "sarah-rl").stdout.strip() == "deleted sarah-rl"
    assert myproject(script, "ls").stdout == ""


def test_add_subparser_needs_the_action_method():
    class Forgetful(SymphonyParser):
        def create_cluster(self):
            raise AssertionError("not needed to build the command line")

        def setup(self):
            super().setup()
            self.add_subparser("create-dev", aliases=["cd"])

    with pytest.raises(TypeError, match=r"add_subparser\('create-dev'\) needs a method action_create_dev\(self, args\)"):
        Forgetful()


def test_verbs_aliases_and_lazy_cluster():
    command = SymphonyCommand(prog="symphony")
    verbs = {"list-experiments": ["ls", "lse"], "list-processes": ["p", "lsp", "process"],
             "logs": ["log", "l"], "delete": ["d"], "delete-batch": ["db"],
             "switch-experiment": ["exp", "e", "se"], "visit": ["vi"], "exec": ["x"], "ssh": [],
             "scp": ["cp"], "launch": []}
    for verb, aliases in verbs.items():
        for name in (verb, *aliases):
            assert command.get_subparser(name) is command.get_subparser(verb)
    with pytest.raises(KeyError, match="has no verb 'create'"):
        command.get_subparser("create")
    assert command.main(["p", "--help"]) == 0
    assert getattr(command, "_cluster", None) is None  # help never touched a backend


def test_create_cluster_is_abstract(capsys):
    class NoCluster(SymphonyParser):
        pass

    with pytest.raises(NotImplementedError, match="NoCluster must implement create_cluster"):
        NoCluster(prog="noc").main(["ls"])


#: every verb of the `symphony` command, with its aliases
SYMPHONY_VERBS = {"list-experiments": ["ls", "lse"], "list-processes": ["p", "lsp", "process"], "logs": ["log", "l"],
                  "delete": ["d"], "delete-batch": ["db"], "switch-experiment": ["exp", "e", "se"], "visit": ["vi"],
                  "exec": ["x"], "ssh": [], "scp": ["cp"], "launch": [], "schema": [], "dashboard": []}


def test_a_command_line_builds_the_parser_of_its_verb_only_and_it_says_what_it_said(capsys):
    """Building every verb's parser was a tenth of `symphony p`'s time, and a command runs one verb.
    Help, usage errors and the verb list are the same as from a command whose verbs are all built when
    it is made (as for a subclass that changes add_subparser, which may expect them to be)."""
    built = []

    class Counting(SymphonyCommand):
        def add_common_arguments(self, parser):
            built.append(parser.prog)
            super().add_common_arguments(parser)

    command = Counting(prog="symphony")
    assert built == ["symphony"]
    assert command.main(["p", "--help"]) == 0
    assert built == ["symphony", "symphony list-processes"]
    assert command.main(["lsp", "-h"]) == 0 and command.get_subparser("process") is command.get_subparser("p")
    assert built == ["symphony", "symphony list-processes"]  # built once, for all its names

    class UpFront(SymphonyCommand):
        __doc__ = SymphonyCommand.__doc__  # (the command's description)

        def add_subparser(self, name, aliases=(), **kwargs):
            return super().add_subparser(name, aliases, **kwargs)

    def says(command_class, argv):
        capsys.readouterr()
        code = command_class(prog="symphony").main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    lines = [["--help"], ["pp"], ["p", "--bogus"], ["logs"], ["logs", "--tail", "x", "a"], ["exec", "a", "b"],
             ["p", "-o", "xml"], ["dashboard", "--port", "x"]]
    lines += [[name, "--help"] for verb, aliases in SYMPHONY_VERBS.items() for name in (verb, *aliases)]
    for argv in lines:
        assert says(SymphonyCommand, argv) == says(UpFront, argv), argv
    names = [name for verb, aliases in SYMPHONY_VERBS.items() for name in (verb, *aliases)]
    assert list(SymphonyCommand(prog="symphony").subparsers.choices) == list(
        UpFront(prog="symphony").subparsers.choices) == names
