"""End to end: a copy of the project pulls its data offline and reproduces the data stages
twice through DVC (the model stages run the same functions in tests/model, on slices; the
whole pipeline is the README's run command)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DO_NOT_TRACK": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }  # fmt: skip
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def project(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fresh clone holds: the files git tracks or would track, nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    dest = tmp_path_factory.mktemp("clone")
    for name in listed:
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    assert not (dest / "data").exists(), "raw data must not be tracked by git"
    _run(["git", "init", "-q", "-b", "main"], dest)
    _run(["git", "add", "-A"], dest)
    _run(["git", "commit", "-qm", "snapshot"], dest)
    return dest


def test_pull_and_repro_twice(project: Path) -> None:
    _run(["dvc", "pull", "-q", "data.dvc"], project)
    assert sorted(p.name for p in (project / "data").iterdir() if p.suffix == ".gz") == [
        "corrected.gz",
        "kddcup.data_10_percent.gz",
    ]
    first = _run(["dvc", "repro", "preprocess"], project)
    assert (
        "Running stage 'validate'" in first.stdout and "Running stage 'preprocess'" in first.stdout
    )
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

    again = _run(["dvc", "repro", "preprocess"], project)
    assert "Running stage" not in again.stdout
    assert "Stage 'preprocess' didn't change, skipping" in again.stdout
    status = _run(["dvc", "status", "preprocess"], project)
    assert "up to date" in status.stdout
    metrics = _run(["dvc", "metrics", "show"], project).stdout
    assert "494021" in metrics and "395216" in metrics
