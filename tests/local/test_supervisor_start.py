"""How the local supervisor's interpreter starts: every launch waits for it.

* it imports this copy of Symphony and the standard library only, never the launcher's current
  directory: a ``json.py`` there (a user's own module) must not replace the one it needs;
* what it loads, its readiness checks included, leaves out the resolution stage, the model and
  :mod:`dataclasses` (with :mod:`inspect` and :mod:`ast`), which a supervisor never needs.
"""

import json
import subprocess
import sys

from symphony.local.boot import PACKAGE_ROOT, SUPERVISOR_BOOT
from symphony.status import ProcessState


def test_a_launch_from_a_folder_whose_modules_are_named_like_the_standard_librarys_starts(local_cluster, tmp_path,
                                                                                       monkeypatch):
    work = tmp_path / "project"
    work.mkdir()
    for module in ("json", "signal", "subprocess"):  # what the supervisor imports first
        (work / f"{module}.py").write_text("raise RuntimeError('a project module, not the standard library')\n")
    monkeypatch.chdir(work)
    exp = local_cluster.new_experiment("shadowed")
    exp.new_process("p", command=sys.executable, args=["-c", "import time; time.sleep(60)"])
    local_cluster.launch(exp)  # (a supervisor importing the project's json.py dies: LaunchError)
    try:
        assert [s.state for s in local_cluster.describe_experiment("shadowed")] == [ProcessState.RUNNING]
    finally:
        local_cluster.delete("shadowed")


def test_the_supervisor_and_its_checks_load_neither_the_resolution_stage_nor_dataclasses():
    boot = SUPERVISOR_BOOT.split("; from ")[0]  # (the search path as the supervisor has it)
    script = (f"{boot}; import json, symphony.local.supervisor, symphony.local.readiness; "
              f"print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-S", "-c", script, PACKAGE_ROOT], capture_output=True, text=True,
                            timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {"symphony.local.supervisor", "symphony.local.readiness", "symphony.host.plan"} <= loaded
    assert not {name for name in loaded if name in ("dataclasses", "inspect", "ast", "site")
                or name.startswith(("symphony.resolution", "symphony.spec"))}


def test_the_supervisor_starts_its_processes_without_importing_json_or_typing():
    """Every launch waits for these imports (about 6 ms together): the plan is read by the C half of json."""
    boot = SUPERVISOR_BOOT.split("; from ")[0]
    script = f"{boot}; import symphony.local.supervisor; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-S", "-c", script, PACKAGE_ROOT], capture_output=True, text=True,
                            timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert "symphony.local.supervisor" in loaded
    assert not loaded & {"json", "typing"}
