"""Feature sets: a `flow` protocol's encoders, duplicate weights, distinct rows and service
envelope read the flow features only, and protocols of one split share its rows."""

import numpy as np
import pandas as pd
import pytest

from iot_anomaly import schema
from iot_anomaly.config import load_params
from iot_anomaly.data.preprocess import (
    FEATURE_SETS,
    EncodingSpec,
    feature_columns,
    feature_names,
    fit_preprocessor,
    input_features,
    transform,
)
from iot_anomaly.data.reader import parse_kdd
from iot_anomaly.data.splits import CHAMPION_PROTOCOL, build_protocols, row_keys
from iot_anomaly.models.envelope import ServiceEnvelope, numeric_features
from iot_anomaly.models.inputs import collapse_duplicates, unique_rows
from iot_anomaly.registry import CHAMPION_PROTOCOL as REGISTERED

ONEHOT = EncodingSpec(
    "onehot", categorical="onehot", scaler="minmax", log1p=("src_bytes", "hot", "num_root")
)
LABEL = EncodingSpec("label", categorical="ordinal", scaler="minmax", log1p=("hot",))
NOT_FLOW = (*schema.CONTENT_FEATURES, *schema.PACKET_FEATURES)


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory, train_lines: list[str]) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("sets") / "slice.csv"
    path.write_text("\n".join(train_lines) + "\n")
    return parse_kdd(path).frame


def scrambled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The frame with every content and packet feature replaced by noise."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for column in NOT_FLOW:
        out[column] = rng.integers(0, 50, len(out))
    return out


def test_the_flow_set_is_the_features_every_flow_source_measures() -> None:
    assert feature_columns("all") == schema.FEATURES
    assert feature_columns("flow") == schema.FLOW_FEATURES and len(schema.FLOW_FEATURES) == 26
    assert set(FEATURE_SETS["flow"]).isdisjoint(NOT_FLOW)
    with pytest.raises(ValueError, match="unknown feature set 'packets'"):
        feature_columns("packets")


def test_a_flow_encoder_reads_the_flow_columns_only(frame: pd.DataFrame) -> None:
    for spec in (ONEHOT, LABEL):
        fitted = fit_preprocessor(frame, spec, schema.FLOW_FEATURES)
        assert input_features(fitted) == list(schema.FLOW_FEATURES)
        assert not set(feature_names(fitted)) & set(NOT_FLOW)  # no log1p of a content column
        out = transform(fitted, frame)
        np.testing.assert_array_equal(out, transform(fitted, scrambled(frame)))
        np.testing.assert_array_equal(out, transform(fitted, frame[list(schema.FLOW_FEATURES)]))
        with_nan = frame.astype({c: "float64" for c in NOT_FLOW})
        with_nan.loc[:, list(NOT_FLOW)] = np.nan
        np.testing.assert_array_equal(out, transform(fitted, with_nan))
        with pytest.raises(ValueError, match=r"lack the feature columns \['duration'\]"):
            transform(fitted, frame.drop(columns="duration"))
        # The encoder was fitted on flow columns: scrambling them in training changes nothing.
        again = fit_preprocessor(scrambled(frame, seed=1), spec, schema.FLOW_FEATURES)
        np.testing.assert_array_equal(out, transform(again, frame))


def test_the_all_set_is_the_default_and_reads_every_feature(frame: pd.DataFrame) -> None:
    fitted = fit_preprocessor(frame, LABEL, schema.FEATURES)
    assert input_features(fitted) == list(schema.FEATURES)
    default = fit_preprocessor(frame, LABEL)
    np.testing.assert_array_equal(transform(fitted, frame), transform(default, frame))
    assert not np.array_equal(transform(fitted, frame), transform(fitted, scrambled(frame)))
    with pytest.raises(ValueError, match="not features of the KDD records"):
        fit_preprocessor(frame, LABEL, ("duration", "payload"))


def test_duplicates_and_distinct_rows_are_counted_over_the_given_features(
    frame: pd.DataFrame,
) -> None:
    noisy = scrambled(frame)
    flow = list(schema.FLOW_FEATURES)
    unique, counts = collapse_duplicates(noisy, flow)
    same, same_counts = collapse_duplicates(frame, flow)
    assert unique.index.equals(same.index) and np.array_equal(counts, same_counts)
    assert counts.sum() == len(frame)
    assert len(collapse_duplicates(noisy)[0]) > len(unique)  # the noise splits rows apart
    first, codes = unique_rows(noisy, flow)
    first_clean, codes_clean = unique_rows(frame, flow)
    assert np.array_equal(first, first_clean) and np.array_equal(codes, codes_clean)


def test_a_flow_envelope_covers_the_numeric_flow_features(frame: pd.DataFrame, tmp_path) -> None:
    flow = numeric_features(schema.FLOW_FEATURES)
    assert len(flow) == 23 and set(flow) <= set(schema.NUMERIC)
    envelope = ServiceEnvelope.fit(frame, 0.1, 5, schema.FLOW_FEATURES)
    assert envelope.features == flow and envelope.low.shape[1] == len(flow)
    assert np.array_equal(envelope.outside(frame), envelope.outside(scrambled(frame)))
    assert np.array_equal(envelope.outside(frame), envelope.outside(frame[["service", *flow]]))
    refit = ServiceEnvelope.fit(scrambled(frame), 0.1, 5, schema.FLOW_FEATURES)
    assert refit.to_json() == envelope.to_json()
    loaded = ServiceEnvelope.load(envelope.save(tmp_path / "envelope.json"))
    assert loaded.features == flow
    np.testing.assert_array_equal(loaded.excess(frame), envelope.excess(frame))
    assert ServiceEnvelope.fit(frame, 0.1, 5).features == schema.NUMERIC  # the default
    bad = envelope.to_json() | {"features": ["service", *flow]}
    with pytest.raises(ValueError, match="not numeric features in file order"):
        ServiceEnvelope.from_json(bad)


def test_protocols_of_one_split_share_its_rows_and_confirmed_rows_join_one(
    frame: pd.DataFrame,
) -> None:
    train, test = frame.iloc[:4000], frame.iloc[4000:]
    confirmed = test.iloc[:50]
    kinds = {"paper": "paper", "paper_flow": "paper", "corrected": "corrected",
             "corrected_flow": "corrected"}  # fmt: skip
    built, _ = build_protocols(kinds, train, test, 0.2, 3, confirmed, "corrected_flow")
    assert built["paper_flow"].train.index.equals(built["paper"].train.index)
    assert built["paper_flow"].test.index.equals(built["paper"].test.index)
    assert built["corrected"].train is train and built["corrected"].test is test  # untouched
    flow = built["corrected_flow"]
    assert len(flow.train) == len(train) + len(confirmed)
    assert set(row_keys(flow.test)).isdisjoint(set(row_keys(confirmed)))
    with pytest.raises(ValueError, match="'dedup', which is not built"):
        build_protocols(kinds, train, test, 0.2, 3, confirmed, "dedup")


def test_the_champion_is_the_corrected_split_over_the_flow_features(root) -> None:
    params = load_params(root / "params.yaml")
    assert REGISTERED == CHAMPION_PROTOCOL
    assert CHAMPION_PROTOCOL in params.preprocess.protocols
    champion = params.preprocess.definition(CHAMPION_PROTOCOL)
    assert (champion.split, champion.features) == ("corrected", "flow")
    shipped = {p: params.preprocess.definition(p) for p in ("paper", "dedup", "corrected")}
    assert all(d.split == p and d.features == "all" for p, d in shipped.items())
    with pytest.raises(ValueError, match="unknown protocol 'kfold'"):
        params.preprocess.definition("kfold")


def _ensemble(accuracy: float, recall: float, macro_f1: float, cost: float) -> dict:
    return {
        "test_rows": 100,
        "binary": {"accuracy": accuracy, "precision": 0.9, "recall": recall, "f1": 0.9},
        "multiclass": {"accuracy": accuracy, "macro_f1": macro_f1},
        "kdd_cost": cost,
    }


def _ci(mean: float) -> dict:
    return {"mean": mean, "std": 0.01, "low": mean - 0.02, "high": mean + 0.02, "n": 3}


DETAILS = {
    "paper": {"definition": {"split": "paper", "features": "all"}},
    "corrected": {"definition": {"split": "corrected", "features": "all"}},
    "paper_flow": {"definition": {"split": "paper", "features": "flow"}},
    "corrected_flow": {"definition": {"split": "corrected", "features": "flow"}},
    "dedup": {"definition": {"split": "dedup", "features": "all"}},  # no flow twin: no row
}
METRICS = {
    "paper": {"ensemble": _ensemble(0.9997, 0.9998, 0.95, 0.0006)},
    "paper_flow": {"ensemble": _ensemble(0.9990, 0.9991, 0.90, 0.0020)},
    "corrected": {"ensemble": _ensemble(0.9400, 0.9300, 0.60, 0.2100)},
    "corrected_flow": {"ensemble": _ensemble(0.9200, 0.9000, 0.55, 0.2500)},
    "dedup": {"ensemble": _ensemble(0.99, 0.99, 0.9, 0.01)},
}


def _study(protocol: str, accuracy: float, cost: float) -> dict:
    summary = {
        "ensemble.binary.accuracy": _ci(accuracy),
        "ensemble.binary.recall": _ci(accuracy - 0.01),
        "ensemble.multiclass.macro_f1": _ci(0.5),
        "ensemble.kdd_cost": _ci(cost),
    }
    return {"protocol": protocol, "vary": "models", "seeds": [1, 2, 3], "summary": summary}


def test_the_feature_set_comparison_pairs_each_split_and_prefers_seed_means() -> None:
    from iot_anomaly.evaluation.study import feature_set_comparison, feature_set_pairs

    assert feature_set_pairs(DETAILS) == [("paper", "paper_flow"), ("corrected", "corrected_flow")]
    studies = {"corrected": _study("corrected", 0.93, 0.22),
               "corrected_flow": _study("corrected_flow", 0.91, 0.26),
               "paper": _study("paper", 0.999, 0.001)}  # fmt: skip
    paper, corrected = feature_set_comparison(METRICS, studies, DETAILS)
    # paper_flow has no seed study: both sides are one run's figures.
    assert (paper["basis"], paper["runs"]) == ("one run", 1)
    assert paper["values"]["paper"] == [0.9997, 0.9998, 0.95, 0.0006]
    assert paper["difference"] == pytest.approx([-0.0007, -0.0007, -0.05, 0.0014])
    assert (corrected["basis"], corrected["runs"]) == ("seed mean", 3)
    assert corrected["values"]["corrected_flow"][3]["mean"] == 0.26
    assert corrected["difference"] == pytest.approx([-0.02, -0.02, 0.0, 0.04])
    assert feature_set_comparison({}, {}, DETAILS) == []  # nothing evaluated: no rows


def test_the_results_page_sets_the_flow_protocols_beside_the_others(tmp_path) -> None:
    import json

    from iot_anomaly.review.docs import collect, render

    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "evaluation_details.json").write_text(json.dumps(DETAILS))
    for protocol in ("corrected", "corrected_flow"):
        study = _study(protocol, 0.93 if protocol == "corrected" else 0.91, 0.22)
        (tmp_path / f"seed_study_{protocol}.json").write_text(json.dumps(study))
    page = render(collect(tmp_path), 42)
    section = page.split("## All features or the flow features")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    assert lines[0].startswith("| `paper` | `paper` | all 41 | one run (seed 42) | 99.970% |")
    assert lines[1].startswith("| `paper` | `paper_flow` | flow 26 | one run (seed 42) | 99.900% |")
    assert (
        lines[2]
        == "| `paper` | | flow minus all | one run | -0.070% | -0.00070 | -0.0500 | 0.00140 |"
    )
    assert lines[3].startswith(
        "| `corrected` | `corrected` | all 41 | seed mean [95% interval] over 3 runs | "
        "93.000% [91.000%, 95.000%] |"
    )
    assert lines[5].startswith("| `corrected` | | flow minus all | of the means | -2.000% |")
    assert "dedup" not in section
    empty = render(collect(tmp_path / "none"), 42)
    assert "Not evaluated yet: `dvc repro evaluate` writes `reports/metrics.json` and" in empty
