"""A flow protocol's models never read a content or packet feature: retrained on rows whose
content features are noise they come out byte for byte the same, and the champion (a flow
protocol's ensemble) scores records built from flows, whose content features are NaN, as it
scores the KDD rows they came from."""

import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.data.preprocess import input_features, load_preprocessor, transform
from iot_anomaly.evaluation.study import FEATURE_SET_FIGURES
from iot_anomaly.models import catalog
from iot_anomaly.models.envelope import load_envelope, numeric_features
from iot_anomaly.registry import CHAMPION_PROTOCOL, register
from iot_anomaly.runtime import Runtime
from iot_anomaly.serving import Champion
from iot_anomaly.stages import study, train
from iot_anomaly.stages.study import SeedPaths

#: The ensemble's figures the results page sets beside those over all features.
FIGURE_KEYS = [f"ensemble.{'.'.join(keys)}" for _, keys, _ in FEATURE_SET_FIGURES]
NOT_FLOW = [*schema.CONTENT_FEATURES, *schema.PACKET_FEATURES]
FLOW = CHAMPION_PROTOCOL


def scrambled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The frame with every content and packet feature replaced by noise (same dtypes)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for column in NOT_FLOW:
        out[column] = rng.integers(0, 40, len(out)).astype(frame[column].dtype)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def champion(trained):
    params, paths = trained
    register(params, paths)
    loaded = Champion.load(paths, Runtime(predict_workers=1, progress=False))
    yield loaded, pd.read_parquet(paths.split(FLOW, "test"))
    loaded.close()


def test_the_flow_protocol_reads_the_flow_features(trained) -> None:
    params, paths = trained
    assert params.preprocess.definition(FLOW).features == "flow"
    for encoding in params.preprocess.encodings:
        pre = load_preprocessor(paths.preprocessor(FLOW, encoding))
        assert input_features(pre) == list(schema.FLOW_FEATURES)
    envelope = load_envelope(paths.model_dir(FLOW, "ensemble"))
    assert envelope is not None and not set(envelope.features) & set(NOT_FLOW)
    assert input_features(load_preprocessor(paths.preprocessor("paper", "label"))) == list(
        schema.FEATURES
    )


def test_flow_models_trained_on_scrambled_content_come_out_the_same(trained, tmp_path) -> None:
    """Every model of the flow protocol, retrained on its split with noise for every content
    and packet feature (training and test rows), is the same model with the same
    predictions: no step of training or scoring reads those columns."""
    params, paths = trained
    copy = tmp_path / "project"
    for part in (paths.split(FLOW, "train").parent, paths.preprocessor(FLOW, "label").parent):
        shutil.copytree(part, copy / part.relative_to(paths.root))
    for part in ("train", "test", "train_normal"):
        split = SeedPaths(copy).split(FLOW, part)
        scrambled(pd.read_parquet(split), seed=len(part)).to_parquet(split)
    retrained = SeedPaths(copy, copy / "retrained")
    for model in catalog.TRAINING_ORDER:
        train.run(params, retrained, model, FLOW, Runtime(threads=1, progress=False))
    for model in catalog.TRAINING_ORDER:
        ours = _files(paths.model_dir(FLOW, model))
        theirs = _files(retrained.model_dir(FLOW, model))
        assert sorted(ours) == sorted(theirs), model
        for name, data in ours.items():
            assert data == theirs[name], f"{model}/{name} differs"
        pd.testing.assert_frame_equal(
            pd.read_parquet(retrained.predictions(FLOW, model)),
            pd.read_parquet(paths.predictions(FLOW, model)),
        )


def test_the_champion_ignores_content_features(champion, trained) -> None:
    model, test = champion
    assert model.record["protocol"] == FLOW and model.features == list(schema.FLOW_FEATURES)
    expected = model.predict(test)
    assert expected["category"].nunique() > 1 and expected["attack"].any()
    pd.testing.assert_frame_equal(model.predict(scrambled(test)), expected)
    # The same noise does change what a model of all 41 features says.
    _, paths = trained
    pre = load_preprocessor(paths.preprocessor("paper", "label"))
    forest = joblib.load(paths.model_dir("paper", "rf") / "model.joblib")
    assert not np.array_equal(
        forest.predict_proba(transform(pre, test)),
        forest.predict_proba(transform(pre, scrambled(test))),
    )


def test_the_champion_scores_records_built_from_flows(champion) -> None:
    """Ingested records carry provenance columns and the 41 features with the content and
    packet features NaN; a frame may also hold the flow features alone."""
    model, test = champion
    expected = model.predict(test)
    records = test[list(schema.FEATURES)].astype(dict.fromkeys(NOT_FLOW, "float64"))
    records.loc[:, NOT_FLOW] = np.nan
    records.insert(0, "uid", [f"F{i}" for i in range(len(records))])
    records.insert(1, "src_ip", "192.168.1.10")
    pd.testing.assert_frame_equal(model.predict(records), expected)
    pd.testing.assert_frame_equal(model.predict(test[list(schema.FLOW_FEATURES)]), expected)
    with pytest.raises(ValueError, match=r"reads the feature columns \['service'\]"):
        model.score(test.drop(columns="service"))


def test_a_seed_study_of_the_flow_protocol(trained) -> None:
    """`iot-anomaly study --protocol corrected_flow`: every model retrained per seed on the
    flow features, the figures summarised as for any protocol."""
    params, paths = trained
    report = study.run(params, paths, FLOW, [5], runtime=Runtime(progress=False))
    assert report["protocol"] == FLOW and report["seeds"] == [5]
    assert report["summary"]["ensemble.kdd_cost"]["n"] == 1
    assert set(FIGURE_KEYS) <= set(report["summary"])
    seeded = SeedPaths(paths.root, study.run_dir(paths, "models", 5))
    envelope = load_envelope(seeded.model_dir(FLOW, "ensemble"))
    assert envelope is not None and envelope.features == numeric_features(schema.FLOW_FEATURES)
    assert study.study_file(paths, FLOW, "models").name == "seed_study_corrected_flow.json"
