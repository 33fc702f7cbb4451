"""The package's shape: no import circles, no module longer than MAX_LINES, and `export --front`
reading a run through a handful of modules.

The import graph is read from the source with `ast`, so it sees every import a module can make:
those at module level, those inside functions (the lazy imports that keep torch out of the
reading side still make one module need another) and those under `TYPE_CHECKING` (a type hint
naming a module is a dependency on it for whoever reads or checks the code). An edge goes to the
module an import names: `from t2tsearch.space.load import x` to `t2tsearch.space.load`,
`from t2tsearch.space import load_space` to the package `t2tsearch.space` (its `__init__`), and
`from t2tsearch.space import load` to the submodule. A package's `__init__` importing its own
submodules is no circle of the code's: it is where the package re-exports their names.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "t2tsearch"
MAX_LINES = 500


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], package: Path = PACKAGE) -> set[str]:
    """The package's modules that the file at `path` imports, anywhere in it."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` names the submodule; `from pkg import name` the package.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import t2tsearch.space.load` needs the deepest module of the package it names.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    if is_package:  # a package re-exporting its own submodules' names: no dependency of theirs
        found = {target for target in found if not target.startswith(name + ".")}
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    modules = set(files)
    return {name: imports_of(path, modules, package) for name, path in files.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """The check can fail: a toy package whose modules import each other at module level, in a
    function, under TYPE_CHECKING and relatively, each circle found."""
    toy = tmp_path / "toy"
    (toy / "sub").mkdir(parents=True)
    (toy / "__init__.py").write_text("from toy.a import x\n")
    (toy / "a.py").write_text("from toy.b import y\nx = 1\n")
    (toy / "b.py").write_text("def f():\n    from toy import a\ny = 2\n")
    (toy / "sub" / "__init__.py").write_text("")
    (toy / "sub" / "c.py").write_text("import typing\nif typing.TYPE_CHECKING:\n"
                                      "    from toy.sub.d import z\n")
    (toy / "sub" / "d.py").write_text("from .c import w\n")
    graph = import_graph(toy)
    assert graph["toy.a"] == {"toy.b"} and graph["toy.b"] == {"toy.a"}
    assert graph["toy.sub.c"] == {"toy.sub.d"} and graph["toy.sub.d"] == {"toy.sub.c"}
    assert graph["toy"] == set()  # the package's re-export of its own submodule
    assert circles(graph) == [["toy.a", "toy.b"], ["toy.sub.c", "toy.sub.d"]]


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 40 and "t2tsearch.results" in graph
    assert circles(graph) == [], "modules of t2tsearch that import each other, directly or round"


def test_no_module_over_the_limit():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert max(lengths.values()) > MAX_LINES / 4  # the files were found and read
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}


# Modules every path stands on, left out of the count of a path's modules: the value and its
# fields, the space file's reader (with its `train:` section, budget.py), the wrappers of private
# APIs and of writes, the errors, and the package's own lazy attribute lookup (`t2tsearch`).
FOUNDATION = ("t2tsearch.arch", "t2tsearch.conditions", "t2tsearch.errors", "t2tsearch.atomic",
              "t2tsearch.private_apis", "t2tsearch.space", "t2tsearch.budget")
MAX_PATH_MODULES = 5

PATH_PROBE = """
import json, sys
from t2tsearch.export import export_front

entered = set()

def profile(frame, event, arg):
    name = frame.f_globals.get("__name__", "")
    if event == "call" and name.startswith("t2tsearch") and frame.f_code.co_name != "<module>":
        entered.add(name)

sys.setprofile(profile)
paths = export_front(sys.argv[1], sys.argv[2])
sys.setprofile(None)
print(json.dumps({"files": len(paths), "modules": sorted(entered)}))
"""


def test_export_front_reads_a_run_through_few_modules(tiny_run, tmp_path):
    """`t2tsearch export RUN --front`: the modules whose functions run while the library writes
    the front (imports done first, so a module's import is not counted as entering it)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", PATH_PROBE, str(tiny_run), str(tmp_path / "f")],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.splitlines()[-1])
    assert probe["files"] > 0 and "t2tsearch.export" in probe["modules"]
    path_modules = [m for m in probe["modules"] if m != "t2tsearch"
                    and not any(m == f or m.startswith(f + ".") for f in FOUNDATION)]
    assert len(path_modules) <= MAX_PATH_MODULES, path_modules
