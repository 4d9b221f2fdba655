"""The package's layering: every import runs down the data flow, never back up.

    errors (the user-error types)
      -> leaves (tokens, run_files, choices, cli)
      -> data | models | metrics       (independent of each other)
      -> experiment_config, config_checks
      -> search -> training -> inference | benchmarking -> sweeps
      -> the entry points (main, translate, evaluate)

A module may import its own package and any layer before its own, including imports inside
functions (a lazy import still runs up the floors when it runs). Within a package, no module
imports itself back through a circle of imports.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "attn_seq2seq"
LAYERS = (
  ("errors",),
  ("tokens", "run_files", "choices", "cli", "atomic_files"),
  ("data", "models", "metrics"),
  ("experiment_config", "config_checks"),
  ("search",),
  ("training",),
  ("inference", "benchmarking"),
  ("sweeps",),
  ("main", "translate", "evaluate"),
)
LAYER = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def module_name(path: Path) -> str:
  """`.../attn_seq2seq/training/steps.py` -> `attn_seq2seq.training.steps` (a package's
  `__init__.py` -> the package)."""
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(dotted: str) -> str:
  """`attn_seq2seq.training.steps` -> `training`: the layer unit a module belongs to."""
  return dotted.split(".")[1]


def imported_units(path: Path) -> set[tuple[str, int]]:
  """The (unit, line) of every package module that `path` imports, at any depth of its code."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attn_seq2seq"):
      if node.module == "attn_seq2seq":
        found |= {(alias.name, node.lineno) for alias in node.names}
      else:
        found.add((unit_of(node.module), node.lineno))
    elif isinstance(node, ast.Import):
      found |= {
        (unit_of(a.name), node.lineno) for a in node.names if a.name.startswith("attn_seq2seq.")
      }
  return found


def test_every_module_belongs_to_a_layer():
  units = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES}
  assert units == set(LAYER), "add a new module or package to LAYERS (and to the README)"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_down_the_layers(path):
  own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
  upward = [
    f"line {line}: {unit}"
    for unit, line in sorted(imported_units(path))
    if unit != own and LAYER[unit] >= LAYER[own]
  ]
  assert not upward, f"{own} (layer {LAYER[own]}) imports from its own layer or above: {upward}"


def readme_modules() -> set[str]:
  """The modules the README's "What is inside" block lists, as paths under attn_seq2seq/."""
  readme = (PACKAGE.parent / "README.md").read_text()
  block = readme.split("## What is inside", 1)[1].split("```")[1]
  listed, package = set(), None
  for line in block.splitlines():
    indent, column = len(line) - len(line.lstrip()), re.split(r"\s{2,}", line.strip())[0]
    if not column or indent == 0:
      continue
    names = [w.rstrip(",") for w in column.split() if w.rstrip(",").endswith((".py", "/"))]
    if indent == 2 and names and names[0].endswith("/"):
      package = names[0]
    elif indent == 2:
      package = None
      listed |= {n for n in names if n.endswith(".py")}
    elif package:
      listed |= {package + n for n in names if n.endswith(".py")}
  return listed


def test_the_readme_lists_every_module():
  modules = {str(p.relative_to(PACKAGE)) for p in MODULES if p.name != "__init__.py"}
  assert readme_modules() == modules


def imported_modules(path: Path, known: set[str]) -> set[str]:
  """The package modules (among `known`) that `path` imports, at any depth of its code:
  `from attn_seq2seq.x import y` counts `attn_seq2seq.x.y` if that is a module, else
  `attn_seq2seq.x`."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attn_seq2seq"):
      for alias in node.names:
        child = f"{node.module}.{alias.name}"
        found.add(child if child in known else node.module)
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name in known}
  return found & known


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One circle of imports in `graph` (module -> the modules it imports) as
  [a, b, ..., a], or None (depth-first search, white/grey/black)."""
  state, stack = {}, []

  def visit(node):
    state[node] = "grey"
    stack.append(node)
    for other in sorted(graph.get(node, ())):
      if state.get(other) == "grey":
        return [*stack[stack.index(other) :], other]
      if other not in state and (cycle := visit(other)):
        return cycle
    stack.pop()
    state[node] = "black"
    return None

  for node in sorted(graph):
    if node not in state and (cycle := visit(node)):
      return cycle
  return None


def package_import_graph() -> dict[str, set[str]]:
  """Every package module -> the package modules it imports (a package imports its
  `__init__`'s imports; a module importing from its own package's `__init__` is not an edge
  back to itself)."""
  known = {module_name(p) for p in MODULES} | {"attn_seq2seq"}
  return {
    module_name(p): imported_modules(p, known) - {module_name(p)}
    for p in [*MODULES, PACKAGE / "__init__.py"]
  }


def test_no_import_circle():
  cycle = import_cycle(package_import_graph())
  assert cycle is None, f"import circle: {' -> '.join(cycle)}"


def test_the_circle_check_finds_a_planted_circle():
  graph = package_import_graph()
  graph["attn_seq2seq.models.model_config"].add("attn_seq2seq.models.decoders")  # the old circle
  cycle = import_cycle(graph)
  assert cycle is not None and cycle[0] == cycle[-1]
  assert {"attn_seq2seq.models.model_config", "attn_seq2seq.models.decoders"} <= set(cycle)


# -- function length ------------------------------------------------------------------------------

MAX_FUNCTION_LINES = 80  # the project's rule: no function over ~80 lines (ruff keeps C901/PLR0915)
CODE = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "scripts").glob("*.py")])


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
  """`name (N lines from line L)` for every function or method of `source` longer than `limit`
  lines, counted from its `def` to its last line (docstring included, decorators not)."""
  return [
    f"{node.name} ({node.end_lineno - node.lineno + 1} lines from line {node.lineno})"
    for node in ast.walk(ast.parse(source))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    and node.end_lineno - node.lineno + 1 > limit
  ]


def test_no_function_is_longer_than_80_lines():
  found = {str(p.relative_to(ROOT)): long_functions(p.read_text()) for p in CODE}
  assert not {path: names for path, names in found.items() if names}, "split them into helpers"


def test_the_length_check_finds_a_planted_long_function():
  statements = [f"x{i} = {i}" for i in range(80)]
  at_limit = "def f():\n" + "".join(f"  {s}\n" for s in statements[:79])  # 80 lines
  planted = "class A:\n  def g(self):\n" + "".join(f"    {s}\n" for s in statements)  # 81
  assert long_functions(at_limit) == []
  assert long_functions(planted) == ["g (81 lines from line 2)"]


# -- function-local imports -----------------------------------------------------------------------

NOQA = re.compile(r"^#\s*noqa:\s*(?P<codes>[A-Z]+\d+(?:\s*,\s*[A-Z]+\d+)*)(?P<rest>.*)$")
CHECKED_FOR_LOCAL_IMPORTS = sorted(
  [*CODE, *(ROOT / "configs").glob("*.py"), *(ROOT / "tests").glob("*.py")]
)


def unexplained_local_imports(source: str) -> list[int]:
  """The lines of `source` with a `noqa: PLC0415` comment (an import inside a function) that
  gives no reason in parentheses after it, as `# noqa: PLC0415  (jax: only when decoding)` does."""
  found = []
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    match = NOQA.match(token.string) if token.type == tokenize.COMMENT else None
    codes = match and re.split(r"\s*,\s*", match["codes"])
    if codes and "PLC0415" in codes and not re.match(r"\s+\(\S.*\)", match["rest"]):
      found.append(token.start[0])
  return found


def test_every_function_local_import_says_why():
  found = {
    str(p.relative_to(ROOT)): unexplained_local_imports(p.read_text())
    for p in CHECKED_FOR_LOCAL_IMPORTS
  }
  assert not {path: lines for path, lines in found.items() if lines}, (
    "hoist the import or give its reason: # noqa: PLC0415  (reason)"
  )


def test_the_local_import_check_finds_a_noqa_without_a_reason():
  source = (
    "def f():\n"
    "  import jax  # noqa: PLC0415  (jax: only when decoding)\n"
    "  import numpy  # noqa: PLC0415\n"
    "  import flax  # noqa: E402, PLC0415\n"
    "  import optax  # noqa: PLC0415  ()\n"
  )
  assert unexplained_local_imports(source) == [3, 4, 5]
