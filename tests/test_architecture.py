"""The engine's shape, read from its source with `ast`: no import cycles, a public API for the app
and the CLI, and modules a reader can hold in their head.

- No cycle among `advisor`'s modules, counting imports inside functions (an import moved into a
  function to dodge a cycle is still a cycle); only imports under `if TYPE_CHECKING:` are left
  out, since they never run.
- `app/` and `advisor/cli.py` use only names `advisor` exports (`advisor.__all__`).
- No module of `advisor/` is over 600 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import advisor

from conftest import PROJECT

PACKAGE = PROJECT / "advisor"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement except those under `if TYPE_CHECKING:`."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif node.level or not node.module:
                continue
            else:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_engine_has_no_import_cycles():
    graph = _graph()
    cycles = _cycles(graph)
    detail = [
        " ; ".join(f"{m} -> {', '.join(sorted(graph[m] & set(c)))}" for m in c)  # who imports whom, per cycle
        for c in cycles
    ]
    assert not cycles, "\n".join(detail)


def test_the_cycle_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from a import b\nif TYPE_CHECKING:\n    from c import d\n")
    assert [node.module for node in _runtime_imports(tree)] == ["a"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def _advisor_names_used(path: Path) -> list[str]:
    """Every advisor name a file reaches: its imports from advisor and `advisor.X` attributes."""
    used = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "advisor":
            if node.module != "advisor":
                used.append(node.module)
            else:
                used += [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            used += [a.name for a in node.names if a.name.startswith("advisor.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "advisor":
            used.append(node.attr)
    return used


def test_the_app_and_the_cli_use_only_what_advisor_exports():
    public = set(advisor.__all__) | {"__version__"}
    files = [*sorted((PROJECT / "app").rglob("*.py")), PACKAGE / "cli.py"]
    private = {
        str(path.relative_to(PROJECT)): sorted({n for n in _advisor_names_used(path) if n not in public})
        for path in files
    }
    assert not {k: v for k, v in private.items() if v}


def test_no_module_is_over_600_lines():
    sizes = {str(p.relative_to(PROJECT)): len(p.read_text().splitlines()) for p in _modules().values()}
    assert not {name: lines for name, lines in sizes.items() if lines > MAX_LINES}


def test_no_module_reaches_into_another_modules_underscore_names():
    """An underscore says "this module's own": a name another module uses is public."""
    crossing = []
    for name, path in _modules().items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("advisor"):
                crossing += [f"{name} uses {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not [c for c in crossing if not c.endswith("__version__")], crossing


def test_every_progress_stage_the_run_emits_is_documented():
    from advisor.pipeline.progress import ProgressEvent

    emitted = set()
    for path in (PACKAGE / "pipeline").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "report"
            if called and node.args and isinstance(node.args[0], ast.Constant):
                emitted.add(node.args[0].value)
    documented = ProgressEvent.__doc__ or ""
    assert emitted and {stage for stage in emitted if f'"{stage}"' not in documented} == set()


def test_every_test_the_docs_and_comments_name_exists():
    import re

    defined = set()
    for path in (PROJECT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.M))
    texts = [PROJECT / name for name in ("README.md", "RELIABILITY.md", "ARCHITECTURE.md")]
    texts += sorted(PACKAGE.rglob("*.py"))
    named = set()
    for path in texts:
        named |= set(re.findall(r"(?:::|`)(test_[a-z0-9_]+)", path.read_text()))
    assert named and named - defined == set()
