"""Import boundaries of the house, read statically from every module's source (function-local
imports included), so a cycle or an upward arrow fails here before it fails at run time.

The layers, bottom up: ``rotsweep`` (table contract, Parquet and byte IO) and
``trainables.config`` (the sections and the generic builder); the registries and the plain
torch code of ``trainables``; ``trainables.spec`` (validation that needs the registries);
``trainables.tune`` (the only Ray code under ``trainables``); ``study`` (driver, MLflow, CLI);
``analysis`` (pandas only).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("rotsweep", "trainables", "analysis", "study")


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, mod: str) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, at module level)`` for every import in ``path``, the source
    of module ``mod``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name, node.lineno, id(node) in top_level
            for alias in node.names:  # ``from trainables import checkpoints``
                yield f"{name}.{alias.name}", node.lineno, id(node) in top_level


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(path: Path, mod: str | None = None) -> list[str]:
    """Every import of ``path`` (module ``mod``, default: its name in the repository) that
    crosses a boundary, one message each."""
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    mod = mod or module_name(path)
    out = []
    for name, line, top in imports(path, mod):
        where = f"{shown}:{line}: imports {name}"
        if under(mod, "trainables.config") and under(name, "trainables") and not under(
                name, "trainables.config"):
            out.append(f"{where} (trainables.config imports no other trainables module)")
        if under(mod, "trainables") and under(name, "analysis", "study"):
            out.append(f"{where} (trainables never imports analysis or study)")
        if under(mod, "analysis") and under(name, "torch", "ray", "trainables", "study"):
            out.append(f"{where} (analysis imports neither torch, Ray, trainables nor study)")
        lazy_notebook = mod == "rotsweep" and not top
        if under(mod, "rotsweep") and not lazy_notebook and under(
                name, "torch", "ray", "mlflow", "trainables", "study", "analysis"):
            out.append(f"{where} (rotsweep is the foundation: no torch/Ray/MLflow/packages)")
        if under(mod, "trainables") and mod != "trainables.tune" and under(name, "ray"):
            out.append(f"{where} (only trainables/tune.py imports Ray under trainables)")
        if not under(mod, "study") and under(name, "mlflow"):
            out.append(f"{where} (MLflow only under study/)")
    return out


def test_every_package_is_scanned() -> None:
    found = {module_name(p).split(".")[0] for p in modules()}
    assert found == set(PACKAGES)
    assert any(module_name(p) == "trainables.config.parse" for p in modules())


@pytest.mark.parametrize("pkg", PACKAGES)
def test_import_boundaries(pkg: str) -> None:
    problems = [v for p in modules() if module_name(p).split(".")[0] == pkg
                for v in violations(p)]
    assert not problems, "\n".join(problems)


def test_the_scan_sees_function_local_and_relative_imports(tmp_path: Path) -> None:
    # a known answer for the scanner itself: lazy upward imports inside a function, read as
    # if the file were trainables/config/probe_for_test.py
    fake = tmp_path / "probe_for_test.py"
    fake.write_text("def f():\n    from trainables.models import BACKBONES\n"
                    "    from ..data import DATASETS\n    return BACKBONES, DATASETS\n")
    found = violations(fake, "trainables.config.probe_for_test")
    assert len(found) == 4, found  # each ``from`` counts for its module and its name
    assert all("trainables.config imports no other trainables module" in v for v in found)


def annotation_only(path: Path) -> set[int]:
    """Lines of imports under ``if TYPE_CHECKING:``: names for annotations, never executed."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt)
                      if isinstance(n, ast.Import | ast.ImportFrom)}
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> the repository modules it imports when it runs (function-local imports
    included, ``if TYPE_CHECKING:`` annotation imports not): a name imported from a package
    counts for the submodule when one exists by that name."""
    known = {module_name(p) for p in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        mod = module_name(path)
        targets = graph.setdefault(mod, set())
        typing_only = annotation_only(path)
        for name, line, _ in imports(path, mod):
            if line in typing_only:
                continue
            # ``from a.b import c``: both ``a.b`` and ``a.b.c`` are yielded; keep what exists
            if name in known and name != mod:
                targets.add(name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    # a circle between files, even through a function-local import, means neither file can be
    # read (or moved) without the other: every arrow points one way
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
