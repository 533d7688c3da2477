"""The layout holds (docs/architecture.md): no two modules import each other, directly or
through imports inside function bodies; production code never imports the dev stack; each
layer imports only the layers below it; tests and benchmarks use public names only; no
module of pipelines/ or targets/ grows past the size at which it mixes a second concern;
pipelines reach the ledger through ``Ledger.of`` only."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "targets", "formats", "registry", "ops", "stack")
# What each layer may import from the project (besides itself); targets.errors is the one
# shared leaf every layer raises.
ALLOWED = {
    "formats": {"targets.errors"},
    "targets": {"formats"},
    "registry": {"formats", "targets.errors"},
    "pipelines": {"formats", "registry", "targets"},
    "ops": {"formats", "registry", "targets", "pipelines"},
    "stack": {"formats", "registry", "targets", "pipelines", "ops"},
}
# The four modules that mixed a second concern (an operator CLI, the pull flow, workbook
# formatting, GCS) were 470-520 lines; one concern has fitted in fewer so far.
MAX_LINES = 470


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules a file imports, wherever the import statement stands."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(p, known) - {m} for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_two_modules_import_each_other():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_production_never_imports_the_stack_and_layers_point_down():
    breaches = []
    for module, imported in _graph().items():
        layer = module.split(".")[0]
        for name in imported:
            other = name.split(".")[0]
            if other == layer:
                continue
            if not any(name == a or name.startswith(a + ".") for a in ALLOWED[layer]):
                breaches.append(f"{module} imports {name}")
    assert breaches == []


def test_tests_and_benchmarks_use_public_names():
    private = []
    for path in sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                private += [f"{path.relative_to(ROOT)}: from {node.module} import {a.name}" for a in node.names
                            if a.name.startswith("_")]
                if node.module.endswith("__main__"):
                    private.append(f"{path.relative_to(ROOT)}: from {node.module}")
            if isinstance(node, ast.Import):
                private += [f"{path.relative_to(ROOT)}: import {a.name}" for a in node.names
                            if a.name.endswith("__main__") and a.name.split(".")[0] in PACKAGES
                            and a.name != "registry.__main__"]
    assert private == []


def test_modules_stay_small_enough_to_hold_one_concern():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items()
             if m.split(".")[0] in ("pipelines", "targets")}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def _client_calls(path: Path) -> list[str]:
    """Where a file makes or asks for a PostgreSQL client (``PostgresClient(...)``,
    ``PostgresClient.from_config(...)``, ``.pooled(...)``) rather than a ledger."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            named = f.id if isinstance(f, ast.Name) else f.value.id if (
                isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)) else None
            if named == "PostgresClient":
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return calls


def test_pipelines_reach_the_ledger_through_one_helper():
    """A pipeline never makes its own PostgreSQL client: ``Ledger.of(section)`` gives the one
    ledger of each database (its cache of what is done shared by every target of a process)."""
    found = [c for p in sorted((ROOT / "pipelines").rglob("*.py")) for c in _client_calls(p)]
    assert found == []
    assert _client_calls(ROOT / "targets" / "ledger.py")  # the finder finds (Ledger.of makes one)


def test_every_task_serves_a_district():
    """``district`` is in every task id (pipelines/base.py InDistrict), so two districts' tasks
    never meet in one luigid: a task class of ours without it would."""
    import importlib
    import pkgutil

    import luigi

    import pipelines
    import stack
    for package in (pipelines, stack):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name not in ("__main__",):
                importlib.import_module(f"{package.__name__}.{info.name}")
    ours = [cls for cls in luigi.task_register.Register._reg
            if cls.__module__.split(".")[0] in ("pipelines", "stack")]
    assert len(ours) > 40
    missing = [cls.__name__ for cls in ours
               if not any(name == "district" and p.significant for name, p in cls.get_params())]
    assert missing == []
