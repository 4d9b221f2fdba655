"""The package's layering: every import runs down the data flow, never back up.

    leaves (tokens, run_files, choices, cli)
      -> data | models | metrics       (independent of each other)
      -> experiment_config, config_checks
      -> search -> training -> inference -> sweeps
      -> the entry points (main, translate, evaluate)

A module may import its own package and any layer before its own, including imports inside
functions (a lazy import still runs up the floors when it runs).
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "attn_seq2seq"
LAYERS = (
  ("tokens", "run_files", "choices", "cli"),
  ("data", "models", "metrics"),
  ("experiment_config", "config_checks"),
  ("search",),
  ("training",),
  ("inference",),
  ("sweeps",),
  ("main", "translate", "evaluate"),
)
LAYER = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


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
