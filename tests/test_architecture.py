"""The layout's rules, checked on the source: dependencies point down, Streamlit stays in the app layer, pages use
only the app's services and widgets, no package cycles, and no module grows past 500 lines."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("simulator", "app", "pages", "tools", "streamlit_app")

LAYERS = [  # lowest first: a module may import its own layer and the ones below it, never one above
    ["simulator.config", "simulator.text", "simulator.injection", "simulator.untrusted", "simulator.content.schemas"],
    ["simulator.content", "simulator.search", "simulator.storage", "simulator.llm", "simulator.speech",
     "simulator.grading.spec", "simulator.grading.contract"],
    ["simulator.grading", "simulator.interview"],
    ["simulator.reports", "simulator.core"],
    ["simulator.cli", "simulator.__main__", "app", "tools"],
    ["pages", "streamlit_app"],
]
STREAMLIT_ALLOWED = ("app", "pages", "streamlit_app")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    files = [*ROOT.glob("simulator/**/*.py"), *ROOT.glob("app/*.py"), *ROOT.glob("pages/*.py"),
             *ROOT.glob("tools/*.py"), ROOT / "streamlit_app.py"]
    return {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f for f in files}


def _imports(path: Path) -> list[str]:
    """Every module name the file imports (``from a import b`` also yields ``a.b``, which may be a module)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _layer(module: str) -> int:
    if module == "simulator":
        return 0  # the package itself holds only its version
    best = max(((len(prefix), n) for n, layer in enumerate(LAYERS) for prefix in layer
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[1]


MODULES = _modules()


def _first_party_imports(module: str) -> list[str]:
    return [n for n in _imports(MODULES[module]) if n.split(".")[0] in FIRST_PARTY and n in MODULES]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if "migrations" not in m))
def test_dependencies_point_down(module: str) -> None:
    upward = [name for name in _first_party_imports(module) if _layer(name) > _layer(module)]
    assert not upward, f"{module} (layer {_layer(module)}) imports higher layers: {upward}"


def test_only_the_app_layer_imports_streamlit() -> None:
    offenders = [m for m, path in MODULES.items() if not m.startswith(STREAMLIT_ALLOWED)
                 and any(n == "streamlit" or n.startswith("streamlit.") for n in _imports(path))]
    assert not offenders


def test_pages_talk_only_to_the_app_services_and_widgets() -> None:
    for module in (m for m in MODULES if m.startswith("pages.")):
        others = [n for n in _first_party_imports(module) if not n.startswith("app")]
        assert not others, f"{module} imports {others}; go through app.services instead"


def test_packages_have_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for name in _first_party_imports(module):
            here, there = _package(module), _package(name)
            if here != there:
                graph[here].add(there)
    seen: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, f"import cycle: {' -> '.join((*path, package))}"
        if package in seen:
            return
        for target in graph[package]:
            visit(target, (*path, package))
        seen.add(package)

    for package in list(graph):
        visit(package, ())


def _package(module: str) -> str:
    """``simulator.storage.store`` belongs to ``simulator.storage``; a top-level module such as ``simulator.core``
    is its own node; outside ``simulator`` the first part names the package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "simulator" else parts[0]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if "migrations" not in m))
def test_no_module_is_over_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by job"
