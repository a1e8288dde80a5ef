"""The pipeline's shape has one source: dvc.yaml's stages match the model table and the
flow's stage functions, and each stage's deps cover every module of the package that its
code imports (so a code change can never leave an output that `dvc repro` calls current)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from iot_anomaly import pipeline
from iot_anomaly.models import catalog

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src"
RESULT_FREE = {"src/iot_anomaly/runtime.py"}
"""Modules no stage needs as a dep: how work is spread over the machine, never a result."""
TEMPLATES = Path("src/iot_anomaly/review/templates")
"""Read by the review package's renderers: a stage that runs them depends on them too."""


def _module_file(module: str) -> Path | None:
    """The file of a module of the package, None for a name that is not a module."""
    base = PACKAGE.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _has_code(path: Path) -> bool:
    """False for a package `__init__.py` that holds only its docstring."""
    body = ast.parse(path.read_text()).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def _imported_modules(path: Path) -> set[str]:
    """The package's modules one file imports, at any depth (function-level imports too)."""
    package = ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("iot_anomaly") and _module_file(m)}


@cache
def code_closure(module: str) -> frozenset[Path]:
    """Every file of the package that running `module` can execute, relative to the root."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        file = _module_file(name)
        if file is not None:
            todo += sorted(_imported_modules(file))
    files = {_module_file(m) for m in seen}
    found = {f.relative_to(ROOT) for f in files if f is not None and _has_code(f)}
    if any(TEMPLATES.parent in f.parents for f in found):
        found |= {f.relative_to(ROOT) for f in (ROOT / TEMPLATES).rglob("*") if f.is_file()}
    return frozenset(f for f in found if str(f) not in RESULT_FREE)


def uncovered_code(root: Path) -> dict[str, list[str]]:
    """Per stage of root's dvc.yaml, the imported source files none of its deps cover."""
    from dvc.repo import Repo

    missing: dict[str, list[str]] = {}
    with Repo(str(root), uninitialized=True) as repo:
        for stage in repo.index.stages:
            if not stage.cmd:
                continue
            module = pipeline.stage_module(pipeline.stage_kind(stage.name))
            deps = [Path(str(d.def_path)) for d in stage.deps]
            gaps = [
                str(f)
                for f in sorted(code_closure(module))
                if not any(f == d or d in f.parents for d in deps)
            ]
            if gaps:
                missing[stage.name] = gaps
    return missing


def test_every_stage_depends_on_all_the_code_it_runs() -> None:
    assert uncovered_code(ROOT) == {}


def test_the_check_catches_a_missing_dependency(tmp_path: Path) -> None:
    """Dropping one imported module from a stage's deps is reported for that stage."""
    import shutil

    import yaml

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    report = stages["stages"]["report"]
    report["deps"] = [d for d in report["deps"] if not d.startswith("src/")]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    gaps = uncovered_code(tmp_path)
    assert set(gaps) == {"report"}
    assert "src/iot_anomaly/config.py" in gaps["report"]


def test_closure_follows_function_level_imports() -> None:
    closure = code_closure("iot_anomaly.pipeline")
    assert Path("src/iot_anomaly/models/catalog.py") in closure  # imported inside functions
    assert Path("src/iot_anomaly/config.py") in closure


def test_stages_match_the_model_table_and_the_stage_functions() -> None:
    """Every model of the table has its stage in dvc.yaml, and every stage of dvc.yaml is one
    the flow can run."""
    waves = pipeline.waves(ROOT)
    flat = [s for wave in waves for s in wave]
    assert len(flat) == len(set(flat))
    bases = {s.partition("@")[0] for s in flat}
    assert {m.stage for m in catalog.MODELS} <= bases
    assert {pipeline.stage_kind(s) for s in flat} <= set(pipeline.STAGE_FUNCTIONS)
    order = {s.partition("@")[0]: i for i, wave in enumerate(waves) for s in wave}
    for model in catalog.MODELS:
        for source in model.inputs:
            assert order[catalog.spec(source).stage] < order[model.stage]
    with pytest.raises(ValueError, match="unknown stage kind"):
        pipeline.run_stage("train_svm@paper", None, None)  # type: ignore[arg-type]
