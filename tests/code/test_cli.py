"""The command line a new user meets first."""

from typer.testing import CliRunner

from iot_anomaly.cli import app


def test_help_lists_every_stage() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "preprocess", "download"):
        assert command in result.output


def test_missing_params_is_a_clear_error(tmp_path) -> None:
    result = CliRunner().invoke(app, ["preprocess", "--params", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "parameters file not found" in result.output


def test_report_without_metrics_is_a_clear_error(tmp_path, root) -> None:
    args = ["report", "--params", str(root / "params.yaml"), "--root", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    text = result.output.replace("\n", "")
    assert "metrics.json" in text and "dvc repro evaluate" in text
    assert not (tmp_path / "reports" / "site").exists()
