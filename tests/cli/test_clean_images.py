"""``clean_images`` from Python asks as the ``symphony`` command asks: on a terminal, and without
one it refuses in one line naming the fix (``force=True``) instead of failing on ``input()``.

The Docker engine is stood in for by a client that lists two images and must delete none."""

import subprocess
import sys
import textwrap

import pytest

from symphony.addons import clean_images
from symphony.errors import SymphonyError

FAKE_CLIENT = """
class Image:
    tags = ["repo:exp-1", "repo:exp-2", "other:latest"]


class Images:
    def list(self):
        return [Image()]

    def remove(self, tag, force=False):
        raise AssertionError(f"{tag} was deleted without a yes")


class Client:
    images = Images()

    def df(self):
        return {"LayersSize": 0}
"""
namespace = {}
exec(FAKE_CLIENT, namespace)
Client = namespace["Client"]


def test_without_a_terminal_nothing_is_deleted_and_one_line_names_force():
    script = FAKE_CLIENT + textwrap.dedent("""
        import sys
        from symphony.addons import clean_images
        from symphony.errors import SymphonyError
        try:
            clean_images("repo:*", client=Client())
        except SymphonyError as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)
        """)
    result = subprocess.run([sys.executable, "-c", script], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
    assert "Traceback" not in result.stderr and result.returncode == 1
    assert result.stderr == "delete these 2 images: not asking without a terminal; pass force=True\n"
    assert result.stdout == "images to delete:\n  repo:exp-1\n  repo:exp-2\n"


def test_the_same_refusal_in_this_process_and_an_answer_when_asked_otherwise(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))
    with pytest.raises(SymphonyError, match=r"^delete these 2 images: not asking without a terminal; "
                                            r"pass force=True$"):
        clean_images(["repo:*"], client=Client())
    asked = []
    assert clean_images("repo:*", client=Client(), confirm=lambda q: asked.append(q) or "n") == \
        {"removed": [], "freed_bytes": 0}
    assert asked == ["delete these 2 images? [y/N] "] and capsys.readouterr().out.endswith("nothing deleted\n")

    def closed(question):
        raise EOFError
    assert clean_images("repo:*", client=Client(), confirm=closed)["removed"] == []
    sys.stdin.close()
