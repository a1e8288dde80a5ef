"""`iot-anomaly predict`: the champion scores a traffic file; bad rows go to quarantine."""

import json

import pandas as pd
from typer.testing import CliRunner

from iot_anomaly import schema
from iot_anomaly.cli import app
from iot_anomaly.models.ensemble import LAYERS
from iot_anomaly.registry import CHAMPION_PROTOCOL, register, registry_file


def test_register_and_predict_round_trip(trained, tmp_path, test_lines) -> None:
    params, paths = trained
    record = register(params, paths)
    saved = json.loads(registry_file(paths).read_text())
    assert saved["version"] == record["version"] and saved["protocol"] == CHAMPION_PROTOCOL
    written = registry_file(paths).read_bytes()
    register(params, paths)
    assert registry_file(paths).read_bytes() == written  # nothing run-dependent in the record
    assert set(saved["components"]) == {"knn", "cnn_lstm", "rf", "ensemble", "ae", "gan"}
    assert saved["params"]["train_knn"] == params.train_knn.model_dump(mode="json")

    lines = list(test_lines[:400])
    lines[10] = lines[10] + ",extra"
    lines[20] = lines[20].replace(",tcp,", ",,", 1) if ",tcp," in lines[20] else lines[20] + ",x"
    source = tmp_path / "traffic.csv"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    result = CliRunner().invoke(
        app, ["predict", "--input", str(source), "--output", str(output), "--root", str(paths.root)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "quarantined" in result.output

    predictions = pd.read_csv(output)
    quarantine = pd.read_csv(output.with_name("predictions.quarantine.csv"))
    assert quarantine["line"].tolist() == [11, 21]
    assert len(predictions) == 398
    assert set(predictions["line"]).isdisjoint({11, 21})
    assert set(predictions["category"]) <= set(schema.CATEGORIES)
    assert (predictions["attack"] == (predictions["category"] != "normal")).all()
    assert set(predictions["decided_by"]) <= set(LAYERS)
    assert (predictions["decided_by"] == "envelope").any()  # the 10% slice lacks many services
    for column in ("knn", "cnn_lstm", "ae_score", "ae_attack", "gan_score", "gan_attack"):
        assert column in predictions

    # Without labels the same rows get the same predictions, and no metrics are printed.
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("\n".join(line.rsplit(",", 1)[0] for line in test_lines[:400]) + "\n")
    out2 = tmp_path / "unlabelled_predictions.csv"
    result = CliRunner().invoke(
        app, ["predict", "-i", str(unlabelled), "-o", str(out2), "--root", str(paths.root)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" not in result.output
    again = pd.read_csv(out2).set_index("line")
    common = predictions.set_index("line")
    assert (again.loc[common.index, "category"] == common["category"]).all()


def test_predict_without_champion_is_a_clear_error(tmp_path, test_lines) -> None:
    source = tmp_path / "traffic.csv"
    source.write_text("\n".join(test_lines[:10]) + "\n")
    result = CliRunner().invoke(
        app, ["predict", "-i", str(source), "-o", str(tmp_path / "o.csv"), "--root", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no champion registered" in result.output
