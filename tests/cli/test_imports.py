"""How Symphony's modules depend on each other, and what a command imports.

The rules: no import cycles (neither among modules, counting the imports made inside
functions, nor among Symphony's packages); no backend imports
another backend, and nothing outside the backends imports one (``Cluster.new`` loads
the one asked for by name); ``symphony p`` loads only the backend in use, and no YAML,
psutil or rich when its output goes to a pipe.
"""

import ast
import json
import os
import subprocess
import sys

import pytest

from clihelpers import REPO, cli_env

PACKAGE = os.path.join(REPO, "symphony")
BACKENDS = ("local", "tmux", "docker", "kube", "slurm")


def symphony_modules():
    """``{dotted module name: source path}`` of every module of the symphony package."""
    modules = {}
    for directory, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(directory, file)
                name = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                modules[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return modules


MODULES = symphony_modules()


def _type_checking_only(node):
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(nodes, lazy):
    """The import statements among ``nodes``: those run at import time (module level, also inside
    ``if``/``try``), or with ``lazy`` also those inside functions; never ``if TYPE_CHECKING:`` ones."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif _type_checking_only(node):
            continue
        elif lazy or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _import_nodes(ast.iter_child_nodes(node), lazy)


def imported_modules(module, lazy=False):
    """The symphony modules ``module`` imports (``from package import submodule`` counts the submodule)."""
    path = MODULES[module]
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(tree.body, lazy):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES and name != module}


def find_cycle(graph):
    """One cycle of ``graph`` (node -> set of nodes) as a list of nodes, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return trail[trail.index(target):] + [target]
            if target not in state:
                cycle = visit(target, trail + [target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def unit(module):
    """The package (``symphony.docker``) or top-level module (``symphony.config``) a module belongs to."""
    return ".".join(module.split(".")[:2])


def backend_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in BACKENDS else None


def test_modules_import_each_other_without_cycles_at_import_time():
    graph = {module: imported_modules(module) for module in MODULES}
    assert find_cycle(graph) is None


#: imports made inside functions that close a cycle between modules, each with why it is tolerated
#: for now: a module's import that completes one is removed from the graph before looking for cycles
KNOWN_LAZY_CYCLES = {
    ("symphony.dashboard.server", "symphony.dashboard"):
        "the server reads DEFAULT_PORT and the page documents from its package, whose main() starts the server",
    ("symphony.kube.logs", "symphony.kube.cluster"):
        "the log follower names the cluster's API error and pod-failure helpers, which live with the cluster",
}


def test_modules_import_each_other_without_cycles_counting_imports_inside_functions():
    """An import made inside a function hides a cycle from import time, not from the design: the
    model's serialisation methods reach serialize.mapping/files, which must then not import the model."""
    graph = {module: imported_modules(module, lazy=True) for module in MODULES}
    for (module, target), _reason in KNOWN_LAZY_CYCLES.items():
        assert target in graph[module], f"{module} no longer imports {target}: remove it from KNOWN_LAZY_CYCLES"
        graph[module] = graph[module] - {target}
    assert find_cycle(graph) is None


def test_packages_depend_on_each_other_one_way_counting_imports_inside_functions():
    """config <-> cluster or addons <-> docker through imports made later, inside functions,
    are cycles too: the dependency must go one way."""
    graph = {}
    for module in MODULES:
        for target in imported_modules(module, lazy=True):
            if unit(target) != unit(module):
                graph.setdefault(unit(module), set()).add(unit(target))
    assert find_cycle(graph) is None


def test_config_never_imports_the_cluster_and_addons_never_import_the_docker_backend():
    """The two pairs that once imported each other: now config <- cluster and addons <- docker."""
    for module in MODULES:
        targets = {unit(target) for target in imported_modules(module, lazy=True)}
        if unit(module) == "symphony.config":
            assert "symphony.cluster" not in targets, module
        if unit(module) == "symphony.addons":
            assert "symphony.docker" not in targets, module


def test_no_backend_imports_another_and_nothing_else_imports_a_backend():
    """Backends are loaded by name (the registry's "module:Class"); a static import of a backend
    from elsewhere would load it for every user of that module."""
    wrong = []
    for module in MODULES:
        for target in imported_modules(module, lazy=True):
            if backend_of(target) and backend_of(target) != backend_of(module):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def loaded_in_fresh_interpreter(code):
    """The names in ``sys.modules`` after running ``code`` in a new interpreter."""
    result = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                            capture_output=True, text=True, timeout=60, env=cli_env(), cwd=REPO)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded_backends(modules):
    return {backend_of(name) for name in modules if backend_of(name)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_importing_a_backend_imports_no_other_backend(backend):
    assert loaded_backends(loaded_in_fresh_interpreter(f"import symphony.{backend}")) == {backend}


@pytest.mark.parametrize("module", ["symphony", "symphony.cluster", "symphony.config", "symphony.addons",
                                    "symphony.engine", "symphony.commandline", "symphony.cli.main"])
def test_shared_modules_import_no_backend(module):
    assert loaded_backends(loaded_in_fresh_interpreter(f"import {module}")) == set()


def test_importing_symphony_loads_nothing_until_a_name_is_used():
    modules = loaded_in_fresh_interpreter("import symphony")
    assert "symphony.spec.model" not in modules and "symphony.cluster" not in modules
    modules = loaded_in_fresh_interpreter("from symphony import Cluster, ExperimentSpec, SymphonyError\n"
                                          "assert Cluster.__module__ == 'symphony.cluster.base'")
    assert {"symphony.cluster", "symphony.spec.model"} <= modules


def test_the_cluster_and_its_progress_line_load_no_threads_until_a_line_is_drawn():
    """Every backend imports the progress line, which `symphony p` never draws: threading (and with
    it a part of its start-up time) is loaded by the first Progress, not by the import."""
    modules = loaded_in_fresh_interpreter("import symphony.cluster, symphony.cluster.progress")
    assert "threading" not in modules
    modules = loaded_in_fresh_interpreter("from symphony.cluster.progress import Progress\nProgress('t', 1)")
    assert "threading" in modules


@pytest.mark.slow
def test_symphony_p_loads_only_the_backend_in_use(local_cluster, tmp_path):
    """Also with a config file naming every backend: keyword names are checked for the backend
    created only; and once the file was read, a later command needs no YAML parser for it."""
    exp = local_cluster.new_experiment("quick")
    exp.new_process("p", command="sleep", args=["60"])
    local_cluster.launch(exp)
    project = tmp_path / "project"
    project.mkdir()
    (project / ".symphony.yml").write_text("username: sarah\nbackends:\n  local: {grace: 2.0}\n  tmux: {grace: 1.0}\n"
                                           "  docker: {stop_timeout: 1}\n  kube: {timeout: 10}\n")
    code = ("import json, sys\nfrom symphony.cli.main import main\ncode = main(['p', 'quick'])\n"
            "print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)\n")
    for round_ in ("reads the file", "reads the cache"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                env=cli_env(SYMPHONY_BACKEND="local"), cwd=project)
        exit_code, modules = json.loads(result.stderr.splitlines()[-1])
        assert exit_code == 0 and result.stdout.splitlines()[1].split()[0] == "p", result
        assert loaded_backends(modules) == {"local"}, round_
        assert not {"psutil", "rich"} & set(modules), round_
    assert "yaml" not in modules


def test_the_command_line_of_symphony_p_loads_no_other_verb_and_no_help_formatting():
    """Parsing `symphony p` builds its verb's parser only: not the dashboard's arguments, nor the fuzzy
    matching of names it is not given, nor argparse's help formatter (whose terminal width costs shutil)."""
    modules = loaded_in_fresh_interpreter("from symphony.cli.main import SymphonyCommand\n"
                                          "SymphonyCommand(prog='symphony')._parse(['p'])")
    assert not {"symphony.dashboard", "symphony.cli.matching", "shutil"} & modules


def test_the_state_store_opens_without_the_db_api_date_adapters(tmp_path):
    """The sqlite3 package's date and time adapters (and datetime with them) took longer to import than
    the driver, on every `symphony p`; state stores none."""
    modules = loaded_in_fresh_interpreter(f"from symphony.state import StateStore\n"
                                          f"StateStore({str(tmp_path)!r}).experiment_names('local')")
    assert "datetime" not in modules and "symphony.state" in modules


@pytest.mark.parametrize("module", ["symphony", "symphony.status", "symphony.state", "symphony.commandline"])
def test_the_modules_on_every_commands_path_import_no_typing_and_no_sqlite(module):
    """typing is imported for annotations only (``if TYPE_CHECKING``), the SQLite driver when a store
    is opened: each is milliseconds of every command's start-up."""
    assert not {"typing", "sqlite3", "_sqlite3"} & loaded_in_fresh_interpreter(f"import {module}")
