"""The house keeps its shape (ARCHITECTURE.md): layers, no hidden imports, small modules and functions, no stray SQL."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "bayesseg"
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 120  # code lines: the docstring does not count


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_layer_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a test dependency (pip install -e .[test])"
    run = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def test_no_function_imports_a_bayesseg_module() -> None:
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bayesseg"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.Import) and any(a.name.startswith("bayesseg") for a in node.names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], f"function-local imports of bayesseg modules: {found}"


def test_no_private_name_is_imported_from_another_module() -> None:
    found = []
    for path in [*_modules(), *(ROOT / "analyses").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bayesseg"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{private}")
    assert found == [], f"private names imported across modules: {found}"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_modules_and_functions_are_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            doc = node.body[0] if node.body and isinstance(node.body[0], ast.Expr) else None
            if doc is not None and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
                lines -= doc.end_lineno - doc.lineno + 1  # type: ignore[operator]
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{node.name} ({lines} lines)")
    assert long == [], f"{path.name}: functions longer than {MAX_FUNCTION_LINES} code lines: {long}"


SQL = re.compile(r"\b(SELECT|INSERT|CREATE|DROP)\b[\s\S]{0,200}\b(FROM|INTO|TABLE|SCHEMA)\b")


@pytest.mark.parametrize("folder", ["analyses", "benchmarks"])
def test_analyses_and_benchmarks_hold_no_sql(folder: str) -> None:
    found = []
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                found.append(f"{path.name}:{node.lineno}")
    assert found == [], f"{folder} runs SQL of its own (the library's data layer owns every query): {found}"


def test_the_sql_pattern_sees_a_query() -> None:
    assert SQL.search("SELECT TREND, WEEK FROM TRUTH.TREND_SERIES")
    assert not SQL.search("select the authors of the panel")
