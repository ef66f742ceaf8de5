"""The package's shape: no import circles, no upward import (inside functions too), no oversized module or class.

Imports are read from the source with `ast`, module level and function level alike; a registry package whose
`__init__` discovers its members (`pkgutil.iter_modules(__path__)`) counts as importing every one of them, as
it does when it runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "sslab"

# Bottom to top: a module may import from its own layer and the ones below, never from one above.
LAYERS = (
    ("errors", "i18n", "devices", "settings", "distributed", "atomic"),  # messages, the one exception, where and how
    # to run, files replaced whole
    ("html", "plots", "progress"),  # page pieces, figures from arrays, progress
    ("data", "views", "nets"),  # datasets, view recipes, encoders: registries
    ("losses", "methods"),  # pure losses; one file per method
    ("checkpoint", "monitor", "store", "train"),  # the one training loop and what it writes
    ("probes", "analysis", "finetune", "online"),  # evaluation on frozen features (online: during training)
    ("analyses",),  # one module per analysis
    ("report", "compare"),  # views over saved results
    ("study", "studies", "bench"),  # orchestration
    ("cli", "__main__"),  # commands
)
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The sslab modules `name` imports, anywhere in its source."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    if path.name == "__init__.py" and "iter_modules(__path__)" in path.read_text():
        found |= {m for m in known if m.rsplit(".", 1)[0] == name}  # a registry imports all its members
    return {m for m in found if m in known and m != name}


def layer(name: str) -> int | None:
    """The module's layer (its index in LAYERS), or None where LAYERS does not name it."""
    top = name.split(".")[1]
    return next((k for k, members in enumerate(LAYERS) if top in members), None)


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items() if name != "sslab"}


def test_every_module_has_a_layer():
    unplaced = [name for name in GRAPH if layer(name) is None]
    assert not unplaced, f"modules in no layer (add them to LAYERS): {', '.join(unplaced)}"


def test_no_import_points_up():
    upward = [f"{a} -> {b}" for a, deps in GRAPH.items() for b in deps if b != "sslab" and layer(b) > layer(a)]
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not circles, "modules that import each other: " + "; ".join(", ".join(c) for c in circles)


def test_the_checks_see_a_circle_and_an_upward_import():
    """The reading above finds what it must: a function-level import, relative imports, a registry's members."""
    known = modules()
    assert "sslab.methods.simclr" in imports("sslab.methods", known["sslab.methods"], known)
    assert "sslab.cli" not in GRAPH["sslab.errors"]
    fake = {"sslab.a": "def f():\n    from sslab.b import x\n", "sslab.b": "from . import a\n"}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, text in fake.items():
            paths[name] = Path(tmp) / f"{name.split('.')[1]}.py"
            paths[name].write_text(text)
        known = dict(paths)
        assert imports("sslab.a", paths["sslab.a"], known) == {"sslab.b"}
        assert imports("sslab.b", paths["sslab.b"], known) == {"sslab.a"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_classes_stay_small(name):
    path = modules()[name]
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path}: {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"{path}: class {node.name} is {size} lines"
