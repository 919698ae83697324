"""ldmcore's modules import one way: cli -> evaluation/cards -> sources -> training -> builder
-> checkpoint -> core (ldmcore/sources/__init__.py states the rule). Every import counts, the
ones inside functions too, so a lazy import cannot hide a cycle."""

import ast
from pathlib import Path

import ldmcore

ROOT = Path(ldmcore.__file__).parent
# the first matching prefix wins; a module's layer may import its own layer and those below
LAYERS = [
    ("cli", ("ldmcore.cli", "ldmcore.demo", "ldmcore.__main__", "ldmcore.serve")),
    ("evaluation", ("ldmcore.evaluation", "ldmcore.cards")),
    ("sources", ("ldmcore.sources",)),
    ("training", ("ldmcore.training",)),
    ("builder", ("ldmcore.builder",)),
    ("checkpoint", ("ldmcore.checkpoint",)),
    ("core", ("ldmcore",)),
]
RANK = {name: len(LAYERS) - i for i, (name, _) in enumerate(LAYERS)}


def _layer(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    raise AssertionError(module)


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["ldmcore", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ldmcore that `module` imports; `from ldmcore import build` counts as the module
    the package's lazy attribute points to."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            if target == "ldmcore":
                names += [ldmcore._LAZY[a.name][0] for a in node.names if a.name in ldmcore._LAZY]
            candidates = [target, *names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != module}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, set(modules)) for m, p in modules.items()}


def test_imports_point_down_the_layers():
    upward = [f"{m} ({_layer(m)}) imports {t} ({_layer(t)})"
              for m, targets in _graph().items() if m != "ldmcore"  # the lazy public face
              for t in sorted(targets) if RANK[_layer(t)] > RANK[_layer(m)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    graph = {m: t for m, t in _graph().items() if m != "ldmcore"}
    # a package imports its own modules and they import each other's siblings: a cycle
    # between modules, not through a package __init__, is what is forbidden
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph.get(m, ()):
            if t in graph.get(m, ()) and m.startswith(t + "."):
                continue  # a module importing its own package (e.g. `from . import x`)
            if state.get(t) == 1:
                cycles.append(" -> ".join([*stack[stack.index(t):], t]))
            elif not state.get(t):
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [m])
    assert not cycles, "\n".join(cycles[:5])


def test_the_walker_sees_lazy_imports(tmp_path):
    """The check can fail: a function-level import of the builder from the checkpoint layer,
    as the old first_stage_io chain had, is reported."""
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from ..builder import build\n")
    assert _imports("ldmcore.checkpoint.mod", fake, {"ldmcore.builder"}) == {"ldmcore.builder"}
