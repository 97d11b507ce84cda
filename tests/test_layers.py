"""The package's layers: each imports only from the layers below it (no import runs back up, so no cycles
between them), and within a layer no module imports one that imports it back."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnfrl"
LAYERS = [
    "errors",
    "utils",
    "envs",
    "data",
    "export",
    "networks",
    "models",
    "agents",
    "training",
    "collect",
    "experiments",
    "cli",
]


def imports() -> dict[str, set[str]]:
    """Every cnfrl module and the cnfrl modules it imports (at the top or inside a function)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("cnfrl", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        graph[name] = set(re.findall(r"^\s*(?:from|import) (cnfrl[\w.]*)", path.read_text(), re.M))
    return graph


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [
        (module, imported)
        for module, imported_modules in imports().items()
        for imported in imported_modules
        if layer(module) is not None and layer(imported) is not None and layer(imported) > layer(module)
    ]
    assert upward == []


def test_no_import_cycles():
    graph = imports()
    modules = set(graph)
    edges = {module: {m for m in imported if m in modules and m != module} for module, imported in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in edges[module]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [module, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert cycles == []
