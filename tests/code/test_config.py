"""Typed params (params.yaml checked when loaded) and the run-time settings beside them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from iot_anomaly import runtime
from iot_anomaly.cli import app
from iot_anomaly.config import Params, ParamsError, load_params, parse_params
from iot_anomaly.params import (
    Activation,
    FeatureSet,
    KnnIndex,
    Optimizer,
    ScoreLoss,
    SplitName,
    Weighting,
    dump_params,
)
from iot_anomaly.runtime import Runtime, RuntimeSettingsError

#: What used to be (or could pass for) a params key but only spreads work over the machine.
RUNTIME_KEYS = {
    "num_workers", "loader_workers", "progress", "threads", "n_jobs", "workers", "knn_chunk",
    "predict", *Runtime.model_fields,
}  # fmt: skip


def _write(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def _changed(params: Params, change: Any) -> dict[str, Any]:
    values = copy.deepcopy(dump_params(params))
    change(values)
    return values


def test_the_shipped_params_load_and_round_trip(params: Params) -> None:
    assert params.train_knn.index in get_args(KnnIndex)
    assert params.validation.suites.of("train")[0] == Path("expectations/kddcup_records.json")
    assert parse_params(dump_params(params)) == params
    gan = params.train_gan.resolved
    chosen = params.train_gan.profiles[params.train_gan.profile]
    assert (gan.profile, gan.epochs, gan.latent_dim) == (
        params.train_gan.profile,
        chosen.epochs,
        chosen.latent_dim,
    )
    assert gan.encoding == params.train_gan.encoding
    assert "epochs" not in gan.network() and "encoding" not in gan.network()
    assert set(params.train_ae.network()) == {"hidden", "activations", "lr", "weight_decay"}


def test_a_bad_value_stops_the_load_naming_file_and_key(tmp_path: Path, params: Params) -> None:
    path = _write(tmp_path, _changed(params, lambda v: v["train_ae"].update(epochs=-3)))
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(caught.value) == f"{path}: train_ae.epochs: Input should be greater than 0"


def test_a_misspelt_key_or_group_stops_the_load(tmp_path: Path, params: Params) -> None:
    def misspelt_key(v: dict) -> None:
        v["train_ae"]["epoch"] = v["train_ae"].pop("epochs")

    path = _write(tmp_path, _changed(params, misspelt_key))
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    lines = str(caught.value).splitlines()
    assert f"{path}: train_ae.epoch: unknown key (misspelt, or not a parameter)" in lines
    assert f"{path}: train_ae.epochs: Field required" in lines

    path = _write(tmp_path, _changed(params, lambda v: v.update(trian_ae=v.pop("train_ae"))))
    with pytest.raises(ParamsError, match="trian_ae: unknown key"):
        load_params(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v["train_cnn_lstm"].update(optimizer="rmsprop"), "train_cnn_lstm.optimizer"),
        (lambda v: v["train_knn"].update(index="lsh"), "train_knn.index: Input should be"),
        (lambda v: v["preprocess"].update(test_size=1.0), "preprocess.test_size"),
        (lambda v: v["monitor"].update(holdout_fraction=0), "monitor.holdout_fraction"),
        (lambda v: v["train_ae"].update(threshold_percentile=100.5), "threshold_percentile"),
        (lambda v: v["train_ae"].update(batch_size=0), "train_ae.batch_size"),
        (lambda v: v["preprocess"]["encodings"]["label"].update(scaler="zscore"), "label.scaler"),
        (lambda v: v["preprocess"]["encodings"]["label"].update(categorical="hash"), "categ"),
        (lambda v: v["train_ae"].update(weighting="squared"), "train_ae.weighting"),
        (lambda v: v["train_gan"].update(profile="mine"), "train_gan.profile: 'mine' is not"),
        (lambda v: v["train_gan"]["profiles"]["ours"].update(score_loss="l2"), "ours.score_loss"),
        (lambda v: v["train_ae"].update(activations=["tanh"]), "train_ae.activations: 1 activ"),
        (lambda v: v["train_ae"].update(encoding="binary"), "train_ae.encoding: 'binary' is not"),
        (lambda v: v["train_rf"].update(encoding="onehot"), "train_rf.encoding: must be"),
        (lambda v: v["train_rf"]["forest"].update(n_jobs=2), "train_rf.forest: n_jobs is a run"),
        (lambda v: v["ensemble"]["forest"].update(random_state=1), "ensemble.forest: random_st"),
        (lambda v: v["promotion"]["rules"].update(acuracy={}), "promotion.rules.acuracy: Input"),
        (lambda v: v["orchestration"].update(task_runner="ray"), "orchestration.task_runner"),
        (lambda v: v["validate"]["suites"].update(train=[]), "validate.suites.train"),
        (lambda v: v["models"].update(num_workers=0), "models.num_workers: unknown key"),
        (lambda v: v["preprocess"]["protocols"].append("kfold"), "preprocess.protocols: \\['kf"),
        (lambda v: v["preprocess"]["definitions"]["paper"].update(split="kfold"), "paper.split"),
        (lambda v: v["preprocess"]["definitions"]["paper"].update(features="some"), "features"),
        (lambda v: v["preprocess"]["definitions"].update(Paper={}), "definitions.Paper"),
    ],
)
def test_bad_params_name_their_key(params: Params, change: Any, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        parse_params(_changed(params, change), "params.yaml")


def test_the_command_line_reports_a_bad_params_file(tmp_path: Path, params: Params) -> None:
    path = _write(tmp_path, _changed(params, lambda v: v["train_ae"].update(epochs=-3)))
    for command in (["preprocess"], ["study"], ["monitor"]):
        result = CliRunner().invoke(app, [*command, "--params", str(path), "--root", str(tmp_path)])
        assert result.exit_code == 1
        assert "train_ae.epochs: Input should be greater than 0" in result.output


def test_the_choices_in_params_are_the_ones_the_code_knows() -> None:
    from iot_anomaly.data import preprocess, splits
    from iot_anomaly.models import cnn_lstm, inputs, knn, networks

    assert set(get_args(Weighting)) == set(inputs.WEIGHTINGS)
    assert set(get_args(Activation)) == set(networks.ACTIVATIONS)
    assert set(get_args(KnnIndex)) == set(knn.INDEXES)
    assert set(get_args(Optimizer)) == set(cnn_lstm.OPTIMIZERS)
    assert set(get_args(ScoreLoss)) == set(networks.SCORE_LOSSES)
    assert set(get_args(SplitName)) == set(splits.SPLITS)
    assert set(get_args(FeatureSet)) == set(preprocess.FEATURE_SETS)


def _keys(tree: Any, prefix: str = "") -> set[str]:
    """Every key path of a nested mapping, dotted."""
    if not isinstance(tree, dict):
        return set()
    found = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        found |= {path} | _keys(value, f"{path}.")
    return found


def test_no_runtime_setting_is_a_tracked_param(root: Path) -> None:
    """How work is spread (threads, workers, chunk sizes, progress bars) changes no result,
    so it must not be a DVC-tracked parameter: DVC hashes the params.yaml values each
    stage lists under `params:` in dvc.yaml, and a stage whose listed value changed is
    stale. Run-time settings come from IOT_ANOMALY_* environment variables, which DVC
    never reads, so changing `IOT_ANOMALY_THREADS` cannot make `dvc status` report a stage
    as changed. Every key a stage tracks must exist in params.yaml, too."""
    shipped = yaml.safe_load((root / "params.yaml").read_text())
    keys = _keys(shipped)
    assert not {k for k in keys if k.rsplit(".", 1)[-1] in RUNTIME_KEYS}
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for entry in stage.get("params", []):
            for key in entry if isinstance(entry, dict) else [entry]:
                assert key in keys, f"{name} tracks {key}, which params.yaml does not hold"
                assert not set(key.split(".")) & RUNTIME_KEYS, f"{name} tracks {key}"
                assert not key.startswith("orchestration"), f"{name} tracks {key}"


def test_runtime_settings_come_from_the_environment() -> None:
    assert Runtime.from_env({}) == Runtime()
    assert Runtime().threads == min(runtime.usable_cores(), runtime.MAX_DEFAULT_THREADS)
    env = {
        "IOT_ANOMALY_THREADS": "3",
        "IOT_ANOMALY_PROGRESS": "off",
        "IOT_ANOMALY_KNN_CHUNK": " 512 ",
        "IOT_ANOMALY_PREDICT_WORKERS": "",  # empty: the default
        "IOT_ANOMALY_PREFECT_PORT": "4200",  # another tool's variable: not ours to judge
    }
    settings = Runtime.from_env(env)
    assert (settings.threads, settings.progress, settings.knn_chunk) == (3, False, 512)
    assert settings.predict_workers == Runtime().predict_workers
    for name in Runtime.model_fields:  # each variable is documented where it is read
        assert Runtime.variable(name) in (runtime.__doc__ or "")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IOT_ANOMALY_THREADS": "0"}, "IOT_ANOMALY_THREADS='0': Input should be greater than 0"),
        ({"IOT_ANOMALY_THREADS": "many"}, "IOT_ANOMALY_THREADS='many': Input should be a valid"),
        ({"IOT_ANOMALY_LOADER_WORKERS": "-1"}, "IOT_ANOMALY_LOADER_WORKERS='-1'"),
        ({"IOT_ANOMALY_PROGRESS": "maybe"}, "IOT_ANOMALY_PROGRESS='maybe'"),
    ],
)
def test_a_bad_runtime_variable_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(RuntimeSettingsError, match=message):
        Runtime.from_env(env)


def test_threads_change_no_forest_and_no_knn_answer(tmp_path: Path) -> None:
    """A seeded forest is the same on one job or two (every tree's seed is drawn before the
    trees are spread), down to the bytes of its saved file; faiss answers every query alike
    on one thread or two, for each index type."""
    from iot_anomaly.models.forest import fit_forest, save_forest
    from iot_anomaly.models.knn import KnnClassifier

    rng = np.random.default_rng(0)
    X = rng.random((3000, 12), dtype=np.float32)
    y = (X[:, 0] + rng.normal(0, 0.2, 3000) > 0.5).astype(np.int64) + (X[:, 1] > 0.8)
    weight = rng.integers(1, 5, 3000).astype(np.float64)
    queries = rng.random((2000, 12), dtype=np.float32)

    forests = [fit_forest(X, y, weight, {"n_estimators": 20}, 42, n_jobs) for n_jobs in (1, 2)]
    np.testing.assert_array_equal(
        forests[0].predict_proba(queries), forests[1].predict_proba(queries)
    )
    saved = [
        save_forest(f, tmp_path / f"forest{i}.joblib").read_bytes() for i, f in enumerate(forests)
    ]
    assert saved[0] == saved[1]
    assert forests[1].n_jobs is None  # predicts on one job: the trees summed in one order

    for index in ("exact", "ivf", "hnsw"):
        fits = [
            KnnClassifier(k=3, index_type=index, nlist=32, nprobe=4, threads=t, seed=0).fit(X, y)
            for t in (1, 2)
        ]
        answers = [f.predict_proba(queries) for f in fits]
        fits[0].threads = 2  # the same index searched on more threads
        np.testing.assert_array_equal(answers[0], answers[1])
        np.testing.assert_array_equal(fits[0].predict_proba(queries), answers[0])
        files = [f.save(tmp_path / f"{index}{i}" / "knn") for i, f in enumerate(fits)]
        assert files[0].read_bytes() == files[1].read_bytes(), index
        faiss_files = [f.with_suffix(".faiss").read_bytes() for f in files]
        assert faiss_files[0] == faiss_files[1], index
