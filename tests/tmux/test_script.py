"""tmux's command language round-trips any argument that the script module quotes (real tmux parser)."""

import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony.tmux.script import quote, window_argv

pytestmark = pytest.mark.tmux

ARGUMENTS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@pytest.fixture
def parse_with_tmux(server_name, tmp_path):
    """Have a real tmux server parse ``set-buffer <quoted>`` from a script and hand the buffer back."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    subprocess.run(["tmux", "-L", server_name, "-f", os.devnull, "new-session", "-d", "-s", "parser"],
                   check=True, env=env)
    script = tmp_path / "script.tmux"

    def parse(text):
        # tmux refuses an empty buffer, so the text travels between two markers (the empty
        # argument itself is checked end to end in test_tmux_backend)
        script.write_text(f"set-buffer -b probe {quote('<' + text + '>')} ; set-buffer -b after {quote('end;')}\n")
        result = subprocess.run(["tmux", "-L", server_name, "source-file", str(script), ";",
                                 "save-buffer", "-b", "probe", "-", ";", "delete-buffer", "-b", "probe"],
                                capture_output=True, env=env)
        assert result.returncode == 0, result.stderr
        framed = result.stdout.decode()
        assert framed[0] + framed[-1] == "<>"
        return framed[1:-1]
    return parse


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ARGUMENTS)
def test_quoted_arguments_parse_back_verbatim(parse_with_tmux, text):
    assert parse_with_tmux(text) == text


@pytest.mark.parametrize("text", ["$HOME", "${HOME}", "~", "~root/x", "a;", ";", "\\;", "#{pane_id}", "'\"", "\\",
                                  "line\nbreak", "\t\r\x1b\x7f", "{ braces }", "%if 1"])
def test_tricky_arguments_parse_back_verbatim(parse_with_tmux, text):
    assert parse_with_tmux(text) == text


def test_a_lone_program_is_not_handed_to_the_shell_to_split():
    assert window_argv(["/opt/my program"]) == ["/bin/sh", "-c", 'exec "$0"', "/opt/my program"]
    assert window_argv(["python", "-c", "x"]) == ["python", "-c", "x"]
