"""Behaviour on a real terminal (a pty): coloured tables, NO_COLOR, the numbered chooser, confirmation;
and shell completion through argcomplete."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from clihelpers import cli_env, wait_for

pytestmark = pytest.mark.slow

ANSI_GREEN = "\x1b[32m"


def on_terminal(*argv, answer=None, env=None):
    """Run `symphony ARGV` with stdin, stdout and stderr on a 120-column pty; (exit code, everything printed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "symphony.cli", *argv], stdin=slave, stdout=slave,
                               stderr=slave, env=env or cli_env(), close_fds=True)
    os.close(slave)
    if answer is not None:
        os.write(master, answer.encode())
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the pty has exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


@pytest.fixture
def tty_demo(local_cluster):
    exp = local_cluster.new_experiment("tty-demo")
    exp.new_process("server", cmds=["echo serving", "sleep 60"])
    group = exp.new_process_group("workers")
    group.new_process("agent-0", cmds=["echo I am agent 0", "sleep 60"])
    group.new_process("agent-1", cmds=["echo I am agent 1", "exit 2"])
    local_cluster.launch(exp)
    wait_for(lambda: local_cluster.describe_experiment("tty-demo")[-1].state == "exited")
    return local_cluster


def test_coloured_table_on_a_terminal_and_no_color(tty_demo):
    code, text = on_terminal("p")
    assert code == 0
    assert ANSI_GREEN in text  # running processes in green
    plain = text
    for code_ in ("\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[1m", "\x1b[0m", "\x1b[22m", "\x1b[39m"):
        plain = plain.replace(code_, "")
    assert "Group" in plain and "agent-1" in plain and "exited (2)" in plain
    assert "\x1b[31m" in text  # the process that exited 2 in red
    code, text = on_terminal("p", env=cli_env(NO_COLOR="1"))
    assert code == 0 and ANSI_GREEN not in text and "exited (2)" in text
    code, text = on_terminal("p", env=cli_env(TERM="dumb"))
    assert code == 0 and "\x1b[" not in text and "exited (2)" in text


def test_numbered_chooser_on_a_terminal(tty_demo):
    code, text = on_terminal("logs", "agent", answer="2\n")
    assert code == 0, text
    assert "'agent' matches several processes:\n  1) workers/agent-0\n  2) workers/agent-1" in text
    assert "I am agent 1" in text and "I am agent 0" not in text
    code, text = on_terminal("logs", "agent", answer="q\n")
    assert code == 1 and "symphony: error: no process chosen for 'agent': give the full name" in text


def test_numbered_chooser_of_services_on_a_terminal(local_cluster):
    exp = local_cluster.new_experiment("boards")
    exp.new_process("dash", "sleep 60").exposes("dashboard")
    exp.new_process("tensor", "sleep 60").exposes("tensorboard")
    local_cluster.launch(exp)
    code, text = on_terminal("visit", "board", "-u", answer="2\n")
    assert code == 0, text
    assert "'board' matches several services:\n  1) dashboard\n  2) tensorboard" in text
    assert text.rstrip().endswith(local_cluster.external_url("boards", "tensorboard"))


def test_delete_asks_on_a_terminal(tty_demo):
    code, text = on_terminal("delete", "tty", answer="n\n")
    assert code == 1 and "delete experiment 'tty-demo' on the local backend? [y/N]" in text
    assert "nothing deleted" in text and tty_demo.list_experiments() == ["tty-demo"]
    code, text = on_terminal("delete", "tty", answer="y\n")
    assert code == 0 and "deleted tty-demo" in text
    assert tty_demo.list_experiments() == []


def complete(line):
    """What argcomplete offers for the command line ``line`` (cursor at the end)."""
    env = cli_env(_ARGCOMPLETE="1", _ARGCOMPLETE_IFS="\n", COMP_LINE=line, COMP_POINT=str(len(line)),
                  _ARGCOMPLETE_STDOUT_FILENAME=os.path.abspath("completions.txt"))
    subprocess.run([sys.executable, "-m", "symphony.cli"], env=env, check=True, timeout=30,
                   stdin=subprocess.DEVNULL, capture_output=True)
    with open("completions.txt") as handle:
        return set(handle.read().split())


def test_shell_completion_of_verbs_experiments_and_processes(tty_demo):
    assert complete("symphony l") == {"list-experiments", "ls", "lse", "list-processes", "lsp", "logs", "log", "l",
                                      "launch"}
    assert "tty-demo" in complete("symphony p ")
    assert complete("symphony logs ag") == {"agent-0", "agent-1"}
    assert complete("symphony logs workers/") == {"workers/agent-0", "workers/agent-1"}
    assert complete("symphony -b ku") == {"kube", "kubernetes"}
