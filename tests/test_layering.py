"""Imports point downward: each part of ``audiox`` imports only itself and the parts of lower layers.

Every module's imports are read with ``ast``, those inside functions included (a lazy import is still a
dependency); imports under ``if TYPE_CHECKING:`` are left out (they never run). Parts in the same layer are
independent: neither imports the other. ``audiox/__init__.py`` may import only the lowest layer at module level
and re-export anything lazily (inside functions); ``from audiox import NAME`` of such a re-export counts as an
import of the root, above every part, while a bare ``import audiox`` (for ``__version__``) is no dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audiox"

# lowest first; a part is a sub-package or a top-level module of ``audiox``
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("utils",),  # files, checks, strict dataclass parsing, dtypes, JSON Lines
    ("geometry", "media", "nn", "sampling"),  # no models: lengths, media I/O, layers, samplers
    ("config",),  # typed model configs
    ("data", "models"),  # corpora and datasets; networks and presets
    ("checkpoint",),  # official and native weights
    ("evaluation", "training"),  # SynthBench; Lightning training jobs
    ("pipeline",),  # generation
    ("demo",),  # every task once, through a pipeline
    ("ui",),  # the web page around a pipeline
    ("commands",),  # argument parsing and checks only
    ("cli",),
    ("__main__",),
)
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}
ROOT = "audiox"


def _part(module: str) -> str:
    """``audiox.data.dataset`` -> ``data``; ``audiox.config`` -> ``config``; ``audiox`` -> ``audiox``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str, bool]]:
    """The ``audiox`` modules that ``source`` imports: ``(line, dotted name, at module level)``.

    Args:
        source: the module's text.
        module: its dotted name (``audiox.data.dataset``), to resolve relative imports.
        is_package: the source is a package's ``__init__.py``.
    """
    base = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, ast.Import):  # a bare ``import audiox`` runs only the root's cheap code: not a dependency
            found.extend((node.lineno, a.name, top) for a in node.names if a.name != ROOT)
        elif isinstance(node, ast.ImportFrom):
            where = node.module or ""
            if node.level:
                where = ".".join(base[: len(base) - node.level + 1] + ([where] if where else []))
            # ``from audiox import config`` names a module; ``from audiox import AudioXPipeline`` the root
            for a in node.names:
                sub = f"{where}.{a.name}"
                found.append((node.lineno, sub if where == ROOT and a.name in LEVEL else where, top))
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), True)
    return [(line, name, top) for line, name, top in found if name == ROOT or name.startswith(ROOT + ".")]


def violations(source: str, module: str, *, is_package: bool = False, where: str = "") -> list[str]:
    """One line per import of ``source`` that breaks the layering (empty: it keeps to it)."""
    own = _part(module)
    out = []
    for line, name, top in imports(source, module, is_package=is_package):
        target = _part(name)
        if target == own:
            continue
        if own == ROOT:  # the package root re-exports lazily; eagerly only the lowest layer
            if top and LEVEL.get(target, len(LAYERS)) > 0:
                out.append(f"{where or module}:{line}: audiox/__init__.py imports {name} at import time")
            continue
        if own not in LEVEL:
            out.append(f"{where or module}: part {own!r} is in no layer of tests/test_layering.py")
            break
        if target == ROOT or target not in LEVEL or LEVEL[target] >= LEVEL[own]:
            what = "the same layer as" if LEVEL.get(target) == LEVEL[own] else "above"
            out.append(f"{where or module}:{line}: {own} imports {name} ({target} is {what} {own})")
    return out


def _modules() -> list[tuple[Path, str, bool]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out.append((path, ".".join(parts), is_package))
    return out


def test_every_import_points_down() -> None:
    bad = []
    for path, module, is_package in _modules():
        rel = path.relative_to(PACKAGE.parent)
        bad += violations(path.read_text(encoding="utf-8"), module, is_package=is_package, where=str(rel))
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_every_part_has_a_layer() -> None:
    parts = {_part(module) for _, module, _ in _modules()} - {ROOT}
    assert parts <= set(LEVEL), f"parts in no layer: {sorted(parts - set(LEVEL))}"
    assert len(LEVEL) == sum(len(layer) for layer in LAYERS), "a part is in two layers"


@pytest.mark.parametrize("module, source, is_package", [
    ("audiox.data.dataset", "def load():\n    from audiox.training.run import train\n", False),  # lazy, upward
    ("audiox.data.dataset", "from ..training import run\n", False),  # relative, upward
    ("audiox.data", "from .. import training\n", True),  # relative from a package's __init__
    ("audiox.training.run", "import audiox.evaluation.report as report\n", False),  # same layer
    ("audiox.models.dit", "from audiox import AudioXPipeline\n", False),  # the root re-exports the pipeline
    ("audiox.pipeline.core", "import importlib\nimportlib.import_module('audiox.commands.train')\n", False),
    ("audiox.utils.files", "from audiox.media.audio import load_audio\n", False),
    ("audiox", "from audiox.pipeline import AudioXPipeline\n", True),  # root: eager, not lazy
    ("audiox.newpart.x", "from audiox.errors import InputError\n", False),  # a part in no layer
])
def test_the_check_catches_an_upward_import(module: str, source: str, is_package: bool) -> None:
    assert len(violations(source, module, is_package=is_package)) == 1


@pytest.mark.parametrize("module, source, is_package", [
    ("audiox.training.run", "def f():\n    from audiox.data.manifest import read_manifest\n", False),
    ("audiox.training.run", "from .config import TrainConfig\nfrom . import callbacks\n", False),
    ("audiox.geometry", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from audiox.config import X\n",
     False),
    ("audiox", "from audiox.errors import AudioXError\ndef __getattr__(n):\n    import audiox.pipeline\n", True),
    ("audiox.commands.train", "from audiox import config\nimport torch\n", False),
    ("audiox.data.synth.build", "def versions():\n    import audiox\n    return audiox.__version__\n", False),
])
def test_the_check_lets_downward_imports_pass(module: str, source: str, is_package: bool) -> None:
    assert violations(source, module, is_package=is_package) == []
