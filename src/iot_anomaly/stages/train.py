"""Training stages, one function per model, each for one protocol.

Every stage learns from the protocol's training split minus a stratified validation part
(`models.val_fraction`, for checkpoint selection and thresholds), writes the model with a
meta.json under artifacts/models/<protocol>/<model>/, and its outputs for every test row
under artifacts/predictions/<protocol>/<model>.parquet, which `evaluate` reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import load_preprocessor, transform
from iot_anomaly.io import write_json, write_parquet
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.autoencoder import Autoencoder, weighted_percentile
from iot_anomaly.models.cnn_lstm import CnnLstm
from iot_anomaly.models.envelope import ENVELOPE_FILE, ServiceEnvelope
from iot_anomaly.models.forest import fit_forest, full_proba
from iot_anomaly.models.gan import BiGAN
from iot_anomaly.models.inputs import balance_classes, fit_val_split, model_data, unique_rows
from iot_anomaly.models.knn import KnnClassifier
from iot_anomaly.models.lightning import ArrayDataModule, fit, load_module, save_module

MODELS = ("ae", "gan", "cnn_lstm", "knn", "rf", "ensemble")
SCORERS = {"ae": Autoencoder, "gan": BiGAN}
PROBA_COLUMNS = [f"p_{c}" for c in schema.CATEGORIES]  # a classifier's prediction file


@dataclass(frozen=True)
class ProtocolFrames:
    fit: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def protocol_frames(params: dict[str, Any], paths: Paths, protocol: str) -> ProtocolFrames:
    """The protocol's training split cut into fit and validation parts, and its test split."""
    train = pd.read_parquet(paths.split(protocol, "train"))
    test = pd.read_parquet(paths.split(protocol, "test"))
    cfg = params["models"]
    fit_part, val_part = fit_val_split(train, float(cfg["val_fraction"]), int(cfg["seed"]))
    return ProtocolFrames(fit_part, val_part, test)


def _meta(paths: Paths, protocol: str, name: str, **fields: Any) -> dict[str, Any]:
    meta = {"model": name, "protocol": protocol, **fields}
    write_json(meta, paths.model_dir(protocol, name) / "meta.json")
    return meta


def _lightning_common(params: dict[str, Any]) -> dict[str, Any]:
    cfg = params["models"]
    return {"seed": int(cfg["seed"]), "progress": bool(cfg.get("progress", True))}


# --- semi-supervised scorers: autoencoder and GAN -------------------------------------------


def scorer_settings(params: dict[str, Any], name: str) -> dict[str, Any]:
    """The stage's params with the chosen profile (if any) merged in."""
    cfg = dict(params[f"train_{name}"])
    profiles = cfg.pop("profiles", None)
    profile = cfg.pop("profile", None)
    if profiles is not None:
        if profile not in profiles:
            raise ValueError(f"train_{name}.profile {profile!r} is not one of {sorted(profiles)}")
        cfg = {**cfg, **profiles[profile], "profile": profile}
    return cfg


_TRAINING_KEYS = {
    "encoding", "weighting", "epochs", "batch_size", "threshold_percentile", "profile",
    "class_balance",
}  # fmt: skip


def train_scorer(params: dict[str, Any], paths: Paths, protocol: str, name: str) -> dict[str, Any]:
    """Train the autoencoder or GAN on normal fit rows; the attack threshold is a
    percentile of the validation normal rows' scores."""
    cfg = scorer_settings(params, name)
    frames = protocol_frames(params, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg["encoding"]))
    normal = frames.fit[frames.fit[schema.CATEGORY] == schema.NORMAL]
    train = model_data(normal, pre, cfg["weighting"])
    val = model_data(frames.val, pre, "count")
    hyper = {k: v for k, v in cfg.items() if k not in _TRAINING_KEYS}
    common = _lightning_common(params)
    data = ArrayDataModule(
        (train.X, train.attack, train.weight),
        (val.X, val.attack, val.weight),
        int(cfg["batch_size"]),
        int(params["models"]["num_workers"]),
        common["seed"],
    )
    out = paths.model_dir(protocol, name)
    started = time.perf_counter()
    best = fit(
        lambda: SCORERS[name](n_features=train.X.shape[1], **hyper),
        data, out, int(cfg["epochs"]), "val_auroc", "max", **common,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    # The threshold comes from held-out normal rows: scores of the rows a network learnt
    # from are optimistic, most of all for the GAN, whose discriminator saw them.
    normal_val = val.subset(val.attack == 0)
    threshold = weighted_percentile(
        best.score(normal_val.X), normal_val.weight, float(cfg["threshold_percentile"])
    )
    save_module(best, out / "model.pt")
    scores = per_distinct(best.score, pre, frames.test)
    write_parquet(
        pd.DataFrame(
            {"score": scores, "attack": (scores > threshold).astype(np.int64)},
            index=frames.test.index,
        ),
        paths.predictions(protocol, name),
    )
    return _meta(
        paths, protocol, name,
        encoding=cfg["encoding"], threshold=threshold, train_rows=int(train.weight.size),
        train_seconds=round(seconds, 1), settings=cfg,
    )  # fmt: skip


def load_scorer(paths: Paths, protocol: str, name: str) -> Autoencoder | BiGAN:
    return load_module(SCORERS[name], paths.model_dir(protocol, name) / "model.pt")


# --- supervised classifiers -----------------------------------------------------------------


def _class_columns(proba: np.ndarray, index: pd.Index) -> pd.DataFrame:
    frame = pd.DataFrame(proba, index=index, columns=PROBA_COLUMNS)
    frame.insert(0, "category", proba.argmax(axis=1).astype(np.int64))
    return frame


def train_cnn_lstm(params: dict[str, Any], paths: Paths, protocol: str) -> dict[str, Any]:
    cfg = dict(params["train_cnn_lstm"])
    frames = protocol_frames(params, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg["encoding"]))
    train = balance_classes(
        model_data(frames.fit, pre, cfg["weighting"]), float(cfg["class_balance"])
    )
    val = model_data(frames.val, pre, "none", dedupe=False)
    common = _lightning_common(params)
    data = ArrayDataModule(
        (train.X, train.category, train.weight), (val.X, val.category),
        int(cfg["batch_size"]), int(params["models"]["num_workers"]), common["seed"],
    )  # fmt: skip
    hyper = {k: v for k, v in cfg.items() if k not in _TRAINING_KEYS}
    out = paths.model_dir(protocol, "cnn_lstm")
    started = time.perf_counter()
    best = fit(
        lambda: CnnLstm(n_features=train.X.shape[1], **hyper),
        data,
        out,
        int(cfg["epochs"]),
        "val_acc",
        "max",
        **common,
    )
    seconds = time.perf_counter() - started
    save_module(best, out / "model.pt")
    return _classifier_outputs(
        paths, protocol, "cnn_lstm", best.predict_proba, pre, frames.test, cfg, len(train), seconds
    )


def per_distinct(fn: Any, pre: Any, frame: pd.DataFrame) -> np.ndarray:
    """`fn` (scores or class probabilities) of every row, computed once per distinct
    feature vector of the encoded frame."""
    first, codes = unique_rows(frame)
    return fn(transform(pre, frame.iloc[first]))[codes]


def _classifier_outputs(
    paths: Paths,
    protocol: str,
    name: str,
    proba_fn: Any,
    pre: Any,
    test: pd.DataFrame,
    cfg: dict[str, Any],
    train_rows: int,
    seconds: float,
) -> dict[str, Any]:
    """Write a trained classifier's test predictions and its meta.json."""
    proba = per_distinct(proba_fn, pre, test)
    write_parquet(_class_columns(proba, test.index), paths.predictions(protocol, name))
    return _meta(
        paths, protocol, name, encoding=cfg["encoding"], train_rows=train_rows,
        train_seconds=round(seconds, 1), settings=dict(cfg),
    )  # fmt: skip


def knn_from_params(cfg: dict[str, Any], seed: int) -> KnnClassifier:
    return KnnClassifier(
        k=int(cfg["k"]), index_type=cfg["index"], nlist=int(cfg["nlist"]),
        nprobe=int(cfg["nprobe"]), hnsw_m=int(cfg["hnsw_m"]),
        ef_construction=int(cfg["ef_construction"]), ef_search=int(cfg["ef_search"]),
        threads=int(cfg["threads"]), seed=seed,
    )  # fmt: skip


def train_knn(params: dict[str, Any], paths: Paths, protocol: str) -> dict[str, Any]:
    cfg = params["train_knn"]
    frames = protocol_frames(params, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg["encoding"]))
    train = model_data(frames.fit, pre, "count")
    started = time.perf_counter()
    knn = knn_from_params(cfg, int(params["models"]["seed"])).fit(
        train.X, train.category, train.weight
    )
    seconds = time.perf_counter() - started
    knn.save(paths.model_dir(protocol, "knn") / "model")
    return _classifier_outputs(
        paths, protocol, "knn", knn.predict_proba, pre, frames.test, cfg, len(train), seconds
    )


def train_rf(params: dict[str, Any], paths: Paths, protocol: str) -> dict[str, Any]:
    cfg = params["train_rf"]
    frames = protocol_frames(params, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg["encoding"]))
    train = model_data(frames.fit, pre, cfg["weighting"])
    started = time.perf_counter()
    forest = fit_forest(
        train.X, train.category, train.weight, dict(cfg["forest"]), int(params["models"]["seed"])
    )
    seconds = time.perf_counter() - started
    out = paths.model_dir(protocol, "rf")
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(forest, out / "model.joblib")
    return _classifier_outputs(
        paths, protocol, "rf", lambda X: full_proba(forest, X, ens.N_CLASSES), pre, frames.test,
        cfg, len(train), seconds,
    )  # fmt: skip


def fit_envelope(cfg: dict[str, Any], train: pd.DataFrame) -> ServiceEnvelope | None:
    """The ensemble's service envelope from the `ensemble.envelope` params (None: off)."""
    settings = cfg.get("envelope") or {}
    if not settings.get("enabled", False):
        return None
    return ServiceEnvelope.fit(train, float(settings["margin"]), int(settings["min_rows"]))


def train_ensemble(params: dict[str, Any], paths: Paths, protocol: str) -> dict[str, Any]:
    """Find where KNN and CNN+LSTM conflict on training rows; train the conflict forest;
    learn the service envelope from the same training rows."""
    cfg = params["ensemble"]
    encoding = params["train_knn"]["encoding"]
    frames = protocol_frames(params, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, encoding))
    knn = KnnClassifier.load(paths.model_dir(protocol, "knn") / "model")
    cnn = load_module(CnnLstm, paths.model_dir(protocol, "cnn_lstm") / "model.pt")
    train = pd.concat([frames.fit, frames.val])
    learn = model_data(train, pre, cfg["weighting"])
    mask = ens.conflict_mask(knn.predict(learn.X), cnn.predict_proba(learn.X).argmax(axis=1))
    seed = int(params["models"]["seed"])
    if ens.conflicts_usable(learn.category, mask, int(cfg["min_conflicts"])):
        forest = fit_forest(
            learn.X[mask], learn.category[mask], learn.weight[mask], dict(cfg["forest"]), seed
        )
        source = "conflicts"
    else:
        forest = joblib.load(paths.model_dir(protocol, "rf") / "model.joblib")
        source = "fallback: the rf model (too few conflicts)"
    envelope = fit_envelope(cfg, train)
    out = paths.model_dir(protocol, "ensemble")
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(forest, out / "forest.joblib")
    (out / ENVELOPE_FILE).unlink(missing_ok=True)
    if envelope is not None:
        envelope.save(out / ENVELOPE_FILE)

    first, codes = unique_rows(frames.test)
    distinct = frames.test.iloc[first]
    X = transform(pre, distinct)
    knn_pred = pd.read_parquet(paths.predictions(protocol, "knn"))["category"].to_numpy()
    cnn_proba = pd.read_parquet(paths.predictions(protocol, "cnn_lstm"))[PROBA_COLUMNS].to_numpy()
    outside = None if envelope is None else envelope.outside(distinct)
    decision = ens.combine(knn_pred[first], cnn_proba[first], forest, X, outside)
    predictions = pd.DataFrame(
        {
            "category": decision.category[codes],
            "knn": decision.knn[codes],
            "cnn_lstm": decision.cnn_lstm[codes],
            "forest": decision.forest[codes],
            "layer": decision.layer[codes],
        },
        index=frames.test.index,
    )
    write_parquet(predictions, paths.predictions(protocol, "ensemble"))
    layer = predictions["layer"].to_numpy()
    return _meta(
        paths, protocol, "ensemble", encoding=encoding, forest_source=source,
        training_conflicts=int(mask.sum()), learn_rows=len(learn),
        envelope_services=None if envelope is None else len(envelope.services),
        test_rows_decided_by_forest=int((layer == ens.FOREST).sum()),
        test_rows_decided_by_envelope=int((layer == ens.ENVELOPE).sum()), settings=dict(cfg),
    )  # fmt: skip


TRAINERS = {
    "ae": lambda p, paths, protocol: train_scorer(p, paths, protocol, "ae"),
    "gan": lambda p, paths, protocol: train_scorer(p, paths, protocol, "gan"),
    "cnn_lstm": train_cnn_lstm,
    "knn": train_knn,
    "rf": train_rf,
    "ensemble": train_ensemble,
}


def run(params: dict[str, Any], paths: Paths, model: str, protocol: str) -> dict[str, Any]:
    """Train one model for one protocol (what each DVC stage `train_<model>@<protocol>` runs)."""
    if model not in TRAINERS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    if protocol not in params["preprocess"]["protocols"]:
        raise ValueError(f"unknown protocol {protocol!r}")
    return TRAINERS[model](params, paths, protocol)
