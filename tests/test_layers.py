"""The layers import downward only, and bad input is refused before torch is imported."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lmctui"
LEAVES = {"lmctui.choices", "lmctui.configs", "lmctui.errors", "lmctui.parsing", "lmctui.jsonio", "lmctui.bounded_files",
          "lmctui.export_files", "lmctui.usermodel", "lmctui.identities"}  # torch-free, import nothing above


def imports_of(path: Path) -> set[str]:
    """Every lmctui module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "lmctui" or name.startswith("lmctui.")}


def files_under(*parts: str) -> list[Path]:
    target = PACKAGE.joinpath(*parts)
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


def offending(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in files for name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("where", [("cli.py",), ("cli_output.py",), ("tui",)])
def test_interfaces_call_only_the_service(where):
    assert offending(files_under(*where), ("lmctui.core", "lmctui.store", "lmctui.jobs")) == []


def test_store_knows_nothing_of_the_numerics_or_the_layers_above():
    assert offending(files_under("store"), ("lmctui.core", "lmctui.service", "lmctui.jobs", "lmctui.tui",
                                            "lmctui.cli")) == []


def test_core_imports_nothing_above_it():
    above = ("lmctui.store", "lmctui.service", "lmctui.jobs", "lmctui.tui", "lmctui.cli", "lmctui.records",
             "lmctui.plots", "lmctui.cli_output")
    assert offending(files_under("core"), above) == []
    leaves = [PACKAGE / f"{name.split('.')[1]}.py" for name in LEAVES]
    assert offending(leaves, ("lmctui.core", "lmctui.store", "lmctui.service", "lmctui.jobs")) == []


def test_no_import_cycle_inside_core():
    core = {f"lmctui.core.{p.stem}": imports_of(p) for p in files_under("core")}
    graph = {name: {i for i in deps if i in core} for name, deps in core.items()}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, seen + (n,))) for n in graph[start])

    cycles = [name for name in graph if reaches(name, name)]
    assert cycles == []


def run_cli(*args: str) -> tuple[int, str, set]:
    """Run the CLI in a fresh interpreter; return (exit code, stderr, heavy modules imported)."""
    code = ("import sys, json\n"
            "from lmctui.cli import main\n"
            "try:\n    main()\n"
            "except SystemExit as e:\n    code = e.code\n"
            "heavy = sorted(m for m in ('torch', 'numpy', 'scipy', 'sklearn') if m in sys.modules)\n"
            "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stdout)\n")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], done.stderr, set(result["heavy"])


REFUSALS = [
    ["train", "--dataset", "mnsit"],
    ["train", "--arch", "transformer"],
    ["train", "--width", "-1"],
    ["train", "--epochs", "0"],
    ["train", "--lr", "nan"],
    ["train", "--warmup", "inf"],
    ["train", "--seeds", "٣"],
    ["train", "--norm", "batch"],
    ["train", "--device", "tpu"],
    ["train", "--depth", "100000000"],
    ["train", "--init-from", ""],
    ["align", "a", "b", "--method", "foo"],
    ["interp", "a", "b", "--methods", "naive,magic"],
    ["interp", "a", "b", "--points", "99999999999999999999"],
    ["average", "a", "--method", "weight"],
    ["sweep", "--widths", "0,4"],
    ["sweep", "--sweep", "colour=red"],
    ["worker", "--cpu-slots", "100000"],
    # issue 14: the matching options, consistency and basins
    ["align", "a", "b", "--restarts", "0"],
    ["align", "a", "b", "--method", "ste", "--ste-steps", "-1"],
    ["align", "a", "b", "--method", "ste", "--ste-lr", "nan"],
    ["interp", "a", "b", "--methods", "naive,weight", "--ste-batch", "8"],
    ["average", "a", "b", "--method", "universe", "--restarts", "300"],
    ["average", "a", "b", "--method", "mergemany", "--restarts", "2"],
    ["sweep", "--methods", "naive,ste", "--ste-steps", "0"],
    ["consistency", "a", "b"],
    ["consistency", "a", "b", "c"],
    ["consistency", "a", "b", "c", "--executor", "slurm"],
    ["basins", "a", "b", "--threshold", "nan"],
    ["basins", "a", "b"],
    ["basins", "a", "b", "--threshold", "0.1"],
    ["basins", "a", "b", "--threshold", "0.1", "--linkage", "single"],
    ["export", "basins", "a", "b", "--threshold", "-1", "--out", "basins.csv"],
    ["export", "alignments"],
    ["show", "a"],
    ["interp", "a", "b", "c"],
    ["interp", "a", "--all-pairs"],
    ["average", "a", "b", "--method", "naive", "--repair"],
    ["plot", "curves", "a", "--out", "figure.jpg"],
    ["plot", "curves", "a", "--out", "figure.png", "--style", "poster"],
    ["plot", "basins", "a", "b", "--out", "figure.png", "--threshold", "nan"],
    # issue 18: your own models, data and weights
    ["train", "--arch", "not a module:make"],
    ["train", "--arch", "no_such_module_anywhere:make"],
    ["train", "--arch", "/nonexistent/net.py:make"],
    ["train", "--arch", "mlp", "--arch-arg", "width=3"],
    ["train", "--arch-arg", "oops"],
    ["train", "--dataset", "npz:/nonexistent/data.npz"],
    ["train", "--dataset", "folder:/nonexistent"],
    ["import", "/nonexistent/weights.pt"],
]


@pytest.mark.parametrize("args", REFUSALS, ids=[" ".join(a) for a in REFUSALS])
def test_refusals_never_import_torch(tmp_path, args):
    code, stderr, heavy = run_cli(*args, "--home", str(tmp_path / "home"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert heavy == set(), f"refusing {args} imported {heavy}"
    assert not (tmp_path / "home" / "runs").exists()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every lmctui module -> the lmctui modules it imports (module level and inside functions);
    `from lmctui.x import y` counts as importing lmctui.x.y when that is a module."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def test_no_import_cycle_anywhere():
    """Tarjan's strongly connected components over every import in lmctui/: none larger than one module."""
    graph = import_graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


# Lower floors first: a module may import its own floor and the floors below, never one above.
FLOORS = [("lmctui.choices", "lmctui.configs", "lmctui.errors", "lmctui.parsing", "lmctui.jsonio", "lmctui.bounded_files",
           "lmctui.export_files", "lmctui.usermodel", "lmctui.identities"),
          ("lmctui.core", "lmctui.formatting", "lmctui.figures"),
          ("lmctui.store", "lmctui.records"),
          ("lmctui.jobs",),
          ("lmctui.service",),
          ("lmctui.plots", "lmctui.cli_output", "lmctui.cli_options", "lmctui.cli_render", "lmctui.cli_run",
           "lmctui.cli_plot", "lmctui.tui"),
          ("lmctui.cli", "lmctui.bench")]


def floor_of(module: str) -> int | None:
    for level, names in enumerate(FLOORS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return level
    return None


def test_no_import_points_upward():
    upward = [f"{m} imports {d}" for m, deps in import_graph().items() for d in deps
              if floor_of(m) is not None and floor_of(d) is not None and floor_of(d) > floor_of(m)]
    assert upward == []


def test_every_module_has_a_floor():
    assert [m for m in import_graph() if m != "lmctui" and floor_of(m) is None] == []


def test_executor_names_are_compared_in_at_most_two_modules_outside_the_slurm_package():
    """A new placement is a class, not a string to look for: only where the user picks one is `slurm` compared."""
    comparing = set()
    for path in PACKAGE.rglob("*.py"):
        if "slurm" in path.relative_to(PACKAGE).parts[:-1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value == "slurm"
                                                     for c in [node.left, *node.comparators]):
                comparing.add(module_name(path))
    assert len(comparing) <= 2, comparing


def test_the_product_imports_nothing_from_the_benchmarks_folder():
    assert [m for m, deps in import_graph().items() if any(d.startswith("benchmarks") for d in deps)] == []
    assert not any(name.startswith("benchmarks") for path in PACKAGE.rglob("*.py") for name in imports_of_all(path))


def imports_of_all(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found
