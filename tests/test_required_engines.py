"""``SYMPHONY_REQUIRE_ENGINES``: a listed engine's absence fails the test instead of skipping it.

Each check runs pytest in a subprocess on a small test file whose tests need an engine
called ``warpdrive`` (which no machine has), with the variable unset, naming it, and naming
other engines only, and reads every test's outcome from the JUnit XML report.
"""

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

import pytest

import engines

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

NEEDS_WARPDRIVE = textwrap.dedent('''
    import pytest

    from engines import require_engine


    @pytest.fixture
    def warpdrive():
        pytest.skip("no warpdrive engine answers here")


    def test_asks_for_its_engine():
        require_engine("warpdrive", "the warpdrive binary is not installed")


    def test_uses_a_fixture_that_skips(warpdrive):
        pass


    @pytest.mark.skipif(True, reason="Warpdrive is not configured")
    def test_skipped_by_a_skipif_mark():
        pass


    @pytest.mark.warpdrive
    def test_marked_for_the_engine():
        pytest.skip("needs root")


    def test_skips_for_another_reason():
        pytest.skip("no IPv6 loopback on this machine")


    def test_names_the_engine_only_inside_a_word():
        pytest.skip("the warpdrivers module is missing")


    @pytest.mark.xfail(reason="warpdrive is broken", strict=True)
    def test_expected_to_fail():
        assert False


    def test_passes():
        pass
''')

SKIPPED_OR_FAILED_BY_ENGINE = ["test_asks_for_its_engine", "test_uses_a_fixture_that_skips",
                               "test_skipped_by_a_skipif_mark", "test_marked_for_the_engine"]
ALWAYS = {"test_skips_for_another_reason": "skipped", "test_names_the_engine_only_inside_a_word": "skipped",
          "test_expected_to_fail": "xfailed", "test_passes": "passed"}


def outcomes(tmp_path, required):
    """``{test name: (outcome, message)}`` of the small test file run with ``required`` (None: unset)."""
    (tmp_path / "test_warpdrive.py").write_text(NEEDS_WARPDRIVE)
    env = {key: value for key, value in os.environ.items() if key != engines.VARIABLE}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS_DIR, env.get("PYTHONPATH")]))
    if required is not None:
        env[engines.VARIABLE] = required
    report = tmp_path / "report.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "engines", "-p", "no:cacheprovider",
                             "-W", "ignore::pytest.PytestUnknownMarkWarning", "-q", f"--junitxml={report}",
                             "test_warpdrive.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    found = {}
    for case in ElementTree.parse(report).iter("testcase"):
        children = {child.tag: child for child in case}
        if "failure" in children or "error" in children:
            child = children.get("failure", children.get("error"))
            found[case.get("name")] = ("failed", (child.get("message") or "") + (child.text or ""))
        elif "skipped" in children:
            skipped = children["skipped"]
            kind = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
            found[case.get("name")] = (kind, skipped.get("message") or "")
        else:
            found[case.get("name")] = ("passed", "")
    assert len(found) == 8, (found, result.stdout)
    return found, result.returncode


@pytest.mark.parametrize("required", [None, "", "tmux,docker"])
def test_an_absent_engine_skips_unless_it_is_required(tmp_path, required):
    found, returncode = outcomes(tmp_path, required)
    assert {name: found[name][0] for name in SKIPPED_OR_FAILED_BY_ENGINE} == dict.fromkeys(
        SKIPPED_OR_FAILED_BY_ENGINE, "skipped")
    assert {name: found[name][0] for name in ALWAYS} == ALWAYS
    assert returncode == 0


@pytest.mark.parametrize("required", ["warpdrive", "tmux, WarpDrive ,docker"])
def test_a_required_engine_that_is_absent_fails(tmp_path, required):
    found, returncode = outcomes(tmp_path, required)
    assert {name: found[name][0] for name in SKIPPED_OR_FAILED_BY_ENGINE} == dict.fromkeys(
        SKIPPED_OR_FAILED_BY_ENGINE, "failed")
    assert {name: found[name][0] for name in ALWAYS} == ALWAYS, "other skips, xfails and passes are left alone"
    assert returncode == 1
    assert "the warpdrive binary is not installed" in found["test_asks_for_its_engine"][1]
    assert "no warpdrive engine answers here" in found["test_uses_a_fixture_that_skips"][1]
    assert "Warpdrive is not configured" in found["test_skipped_by_a_skipif_mark"][1]
    assert "needs root" in found["test_marked_for_the_engine"][1]
    assert all(f"is required here ({engines.VARIABLE}={required})" in found[name][1]
               for name in SKIPPED_OR_FAILED_BY_ENGINE), found


def test_the_variable_lists_engines_by_name(monkeypatch):
    monkeypatch.setenv(engines.VARIABLE, " tmux,Docker  kube,")
    assert engines.required_engines() == {"tmux", "docker", "kube"}
    assert engines.engine_named("no Docker engine reachable; run .ci/docker-up as root") == "docker"
    assert engines.engine_named("tmux is not installed") == "tmux"
    assert engines.engine_named("DockerBuilder is not here yet") is None
    assert engines.engine_named("needs root", markers={"docker", "slow"}) == "docker"
    monkeypatch.delenv(engines.VARIABLE)
    assert engines.required_engines() == set() and engines.engine_named("tmux is not installed") is None


def test_this_suite_loads_the_hook(request):
    """tests/conftest.py registers the hook, so the engines' own conftest files need no change."""
    conftest = os.path.join(TESTS_DIR, "conftest.py")
    plugins = [plugin for plugin in request.config.pluginmanager.get_plugins()
               if getattr(plugin, "__file__", None) == conftest]
    assert [plugin.pytest_runtest_makereport for plugin in plugins] == [engines.pytest_runtest_makereport]
