"""End to end: a copy of the project pulls its data offline and reproduces the data stages
twice through DVC (the model stages run the same functions in tests/model, on slices; the
whole pipeline is the README's run command)."""

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import copy_tracked, run_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fresh clone holds: the files git tracks or would track, nothing else."""
    dest = tmp_path_factory.mktemp("clone")
    copy_tracked(root, dest)
    assert not (dest / "data").exists(), "raw data must not be tracked by git"
    run_tool(["git", "init", "-q", "-b", "main"], dest)
    run_tool(["git", "add", "-A"], dest)
    run_tool(["git", "commit", "-qm", "snapshot"], dest)
    return dest


def test_pull_and_repro_twice(project: Path) -> None:
    run_tool(["dvc", "pull", "-q", "data.dvc"], project)
    assert sorted(p.name for p in (project / "data").iterdir() if p.suffix == ".gz") == [
        "corrected.gz",
        "kddcup.data_10_percent.gz",
    ]
    first = run_tool(["dvc", "repro", "preprocess"], project)
    assert "Running stage 'validate'" in first and "Running stage 'preprocess'" in first
    for protocol in ("paper", "dedup", "corrected"):
        for part in ("train", "test", "train_normal"):
            assert (project / "artifacts" / "splits" / protocol / f"{part}.parquet").is_file()
        for encoding in ("onehot", "label"):
            assert (
                project / "artifacts" / "preprocess" / protocol / f"{encoding}.joblib"
            ).is_file()
    paper_train = pd.read_parquet(project / "artifacts/splits/paper/train.parquet")
    assert len(paper_train) == 395_216
    assert (project / "reports" / "validation" / "index.html").is_file()

    again = run_tool(["dvc", "repro", "preprocess"], project)
    assert "Running stage" not in again
    assert "Stage 'preprocess' didn't change, skipping" in again
    assert "up to date" in run_tool(["dvc", "status", "preprocess"], project)
    metrics = run_tool(["dvc", "metrics", "show"], project)
    assert "494021" in metrics and "395216" in metrics
