"""Training stages, one function per model, each for one protocol.

Every stage learns from the protocol's training split minus a stratified validation part
(`models.val_fraction`, for checkpoint selection and thresholds), writes the model with a
meta.json under artifacts/models/<protocol>/<model>/, and its outputs for every test row
under artifacts/predictions/<protocol>/<model>.parquet, which `evaluate` reads.

A model reads the features of its protocol's feature set and no other: the protocol's
preprocessors were fitted on those columns only (stages/preprocess.py), and every step here
(duplicate weights, distinct rows, the service envelope) takes its columns from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import input_features, load_preprocessor, transform
from iot_anomaly.io import write_json, write_parquet
from iot_anomaly.models import catalog
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.autoencoder import Autoencoder, weighted_percentile
from iot_anomaly.models.cnn_lstm import CnnLstm
from iot_anomaly.models.envelope import ENVELOPE_FILE, ServiceEnvelope
from iot_anomaly.models.forest import fit_forest, full_proba, save_forest
from iot_anomaly.models.gan import BiGAN
from iot_anomaly.models.inputs import balance_classes, fit_val_split, model_data, unique_rows
from iot_anomaly.models.knn import KnnClassifier
from iot_anomaly.models.lightning import (
    TRAINING_THREADS,
    ArrayDataModule,
    fit,
    torch_threads,
    training_logs,
)
from iot_anomaly.models.networks import load_network, run_batched, save_network
from iot_anomaly.params import (
    EnsembleParams,
    EnvelopeParams,
    GanSettings,
    ModelsParams,
    Params,
    TrainAeParams,
    TrainCnnLstmParams,
    TrainGanParams,
    TrainKnnParams,
    TrainRfParams,
)
from iot_anomaly.runtime import Runtime

SCORERS = {"ae": Autoencoder, "gan": BiGAN}
PROBA_COLUMNS = [f"p_{c}" for c in schema.CATEGORIES]  # a classifier's prediction file


@dataclass(frozen=True)
class ProtocolFrames:
    fit: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def protocol_frames(models: ModelsParams, paths: Paths, protocol: str) -> ProtocolFrames:
    """The protocol's training split cut into fit and validation parts, and its test split."""
    train = pd.read_parquet(paths.split(protocol, "train"))
    test = pd.read_parquet(paths.split(protocol, "test"))
    fit_part, val_part = fit_val_split(train, models.val_fraction, models.seed)
    return ProtocolFrames(fit_part, val_part, test)


def _meta(paths: Paths, protocol: str, name: str, **fields: Any) -> dict[str, Any]:
    meta = {"model": name, "protocol": protocol, **fields}
    write_json(meta, paths.model_dir(protocol, name) / "meta.json")
    return meta


# --- semi-supervised scorers: autoencoder and GAN -------------------------------------------


def train_scorer(
    name: str,
    settings: TrainAeParams | GanSettings,
    models: ModelsParams,
    paths: Paths,
    protocol: str,
    runtime: Runtime,
) -> dict[str, Any]:
    """Train the autoencoder or GAN on normal fit rows; the attack threshold is a
    percentile of the validation normal rows' scores."""
    frames = protocol_frames(models, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, settings.encoding))
    normal = frames.fit[frames.fit[schema.CATEGORY] == schema.NORMAL]
    train = model_data(normal, pre, settings.weighting)
    val = model_data(frames.val, pre, "count")
    data = ArrayDataModule(
        (train.X, train.attack, train.weight),
        (val.X, val.attack, val.weight),
        settings.batch_size,
        runtime.loader_workers,
        models.seed,
    )
    out = paths.model_dir(protocol, name)
    net = fit(
        lambda: SCORERS[name].from_settings(train.X.shape[1], **settings.network()),
        data, training_logs(out), settings.epochs, "val_auroc", "max", models.seed,
        runtime.progress,
    )  # fmt: skip
    # The threshold comes from held-out normal rows: scores of the rows a network learnt
    # from are optimistic, most of all for the GAN, whose discriminator saw them.
    normal_val = val.subset(val.attack == 0)
    threshold = weighted_percentile(
        run_batched(net, normal_val.X), normal_val.weight, settings.threshold_percentile
    )
    save_network(net, out / "model.pt")
    scores = per_distinct(lambda X: run_batched(net, X), pre, frames.test)
    write_parquet(
        pd.DataFrame(
            {"score": scores, "attack": (scores > threshold).astype(np.int64)},
            index=frames.test.index,
        ),
        paths.predictions(protocol, name),
    )
    return _meta(
        paths, protocol, name,
        encoding=settings.encoding, threshold=threshold, train_rows=int(train.weight.size),
        settings=settings.model_dump(mode="json"),
    )  # fmt: skip


def train_ae(
    ae: TrainAeParams, models: ModelsParams, paths: Paths, protocol: str, runtime: Runtime
) -> dict[str, Any]:
    return train_scorer("ae", ae, models, paths, protocol, runtime)


def train_gan(
    gan: TrainGanParams, models: ModelsParams, paths: Paths, protocol: str, runtime: Runtime
) -> dict[str, Any]:
    """The GAN with its chosen profile (`train_gan.profile`)."""
    return train_scorer("gan", gan.resolved, models, paths, protocol, runtime)


# --- supervised classifiers -----------------------------------------------------------------


def _class_columns(proba: np.ndarray, index: pd.Index) -> pd.DataFrame:
    frame = pd.DataFrame(proba, index=index, columns=PROBA_COLUMNS)
    frame.insert(0, "category", proba.argmax(axis=1).astype(np.int64))
    return frame


def train_cnn_lstm(
    cfg: TrainCnnLstmParams, models: ModelsParams, paths: Paths, protocol: str, runtime: Runtime
) -> dict[str, Any]:
    frames = protocol_frames(models, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg.encoding))
    train = balance_classes(model_data(frames.fit, pre, cfg.weighting), cfg.class_balance)
    val = model_data(frames.val, pre, "none", dedupe=False)
    data = ArrayDataModule(
        (train.X, train.category, train.weight), (val.X, val.category),
        cfg.batch_size, runtime.loader_workers, models.seed,
    )  # fmt: skip
    out = paths.model_dir(protocol, "cnn_lstm")
    net = fit(
        lambda: CnnLstm.from_settings(train.X.shape[1], **cfg.network()),
        data, training_logs(out), cfg.epochs, "val_acc", "max", models.seed, runtime.progress,
    )  # fmt: skip
    save_network(net, out / "model.pt")
    return _classifier_outputs(
        paths, protocol, "cnn_lstm", lambda X: run_batched(net, X), pre, frames.test, cfg,
        len(train),
    )  # fmt: skip


def per_distinct(fn: Any, pre: Any, frame: pd.DataFrame) -> np.ndarray:
    """`fn` (scores or class probabilities) of every row, computed once per distinct
    feature vector of the encoded frame."""
    first, codes = unique_rows(frame, input_features(pre))
    return fn(transform(pre, frame.iloc[first]))[codes]


def _classifier_outputs(
    paths: Paths,
    protocol: str,
    name: str,
    proba_fn: Any,
    pre: Any,
    test: pd.DataFrame,
    cfg: TrainCnnLstmParams | TrainKnnParams | TrainRfParams,
    train_rows: int,
) -> dict[str, Any]:
    """Write a trained classifier's test predictions and its meta.json."""
    proba = per_distinct(proba_fn, pre, test)
    write_parquet(_class_columns(proba, test.index), paths.predictions(protocol, name))
    return _meta(
        paths, protocol, name, encoding=cfg.encoding, train_rows=train_rows,
        settings=cfg.model_dump(mode="json"),
    )  # fmt: skip


def knn_from_params(cfg: TrainKnnParams, seed: int, threads: int) -> KnnClassifier:
    return KnnClassifier(
        k=cfg.k, index_type=cfg.index, nlist=cfg.nlist, nprobe=cfg.nprobe, hnsw_m=cfg.hnsw_m,
        ef_construction=cfg.ef_construction, ef_search=cfg.ef_search, threads=threads, seed=seed,
    )  # fmt: skip


def train_knn(
    cfg: TrainKnnParams, models: ModelsParams, paths: Paths, protocol: str, runtime: Runtime
) -> dict[str, Any]:
    frames = protocol_frames(models, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg.encoding))
    train = model_data(frames.fit, pre, "count")
    knn = knn_from_params(cfg, models.seed, runtime.threads).fit(
        train.X, train.category, train.weight
    )
    knn.save(paths.model_dir(protocol, "knn") / "model")
    return _classifier_outputs(
        paths, protocol, "knn", knn.predict_proba, pre, frames.test, cfg, len(train)
    )


def train_rf(
    cfg: TrainRfParams, models: ModelsParams, paths: Paths, protocol: str, runtime: Runtime
) -> dict[str, Any]:
    frames = protocol_frames(models, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, cfg.encoding))
    train = model_data(frames.fit, pre, cfg.weighting)
    forest = fit_forest(
        train.X, train.category, train.weight, cfg.forest, models.seed, runtime.threads
    )
    out = paths.model_dir(protocol, "rf")
    out.mkdir(parents=True, exist_ok=True)
    save_forest(forest, out / "model.joblib")
    return _classifier_outputs(
        paths, protocol, "rf", lambda X: full_proba(forest, X, ens.N_CLASSES), pre, frames.test,
        cfg, len(train),
    )  # fmt: skip


def fit_envelope(
    envelope: EnvelopeParams, train: pd.DataFrame, features: list[str]
) -> ServiceEnvelope | None:
    """The ensemble's service envelope from the `ensemble.envelope` params (None: off), over
    the numeric ones of the features the other layers read."""
    if not envelope.enabled:
        return None
    return ServiceEnvelope.fit(train, envelope.margin, envelope.min_rows, features)


def train_ensemble(
    cfg: EnsembleParams,
    encoding: str,
    models: ModelsParams,
    paths: Paths,
    protocol: str,
    runtime: Runtime,
) -> dict[str, Any]:
    """Find where KNN and CNN+LSTM conflict on training rows; train the conflict forest;
    learn the service envelope from the same training rows. `encoding` is the one KNN and
    CNN+LSTM learnt from (`train_knn.encoding`)."""
    frames = protocol_frames(models, paths, protocol)
    pre = load_preprocessor(paths.preprocessor(protocol, encoding))
    knn = KnnClassifier.load(paths.model_dir(protocol, "knn") / "model")
    knn.threads = runtime.threads
    cnn = load_network(paths.model_dir(protocol, "cnn_lstm") / "model.pt")
    train = pd.concat([frames.fit, frames.val])
    learn = model_data(train, pre, cfg.weighting)
    mask = ens.conflict_mask(knn.predict(learn.X), run_batched(cnn, learn.X).argmax(axis=1))
    if ens.conflicts_usable(learn.category, mask, cfg.min_conflicts):
        forest = fit_forest(
            learn.X[mask], learn.category[mask], learn.weight[mask], cfg.forest, models.seed,
            runtime.threads,
        )  # fmt: skip
        source = "conflicts"
    else:
        forest = joblib.load(paths.model_dir(protocol, "rf") / "model.joblib")
        source = "fallback: the rf model (too few conflicts)"
    features = input_features(pre)
    envelope = fit_envelope(cfg.envelope, train, features)
    out = paths.model_dir(protocol, "ensemble")
    out.mkdir(parents=True, exist_ok=True)
    save_forest(forest, out / "forest.joblib")
    (out / ENVELOPE_FILE).unlink(missing_ok=True)
    if envelope is not None:
        envelope.save(out / ENVELOPE_FILE)

    first, codes = unique_rows(frames.test, features)
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
        test_rows_decided_by_envelope=int((layer == ens.ENVELOPE).sum()),
        settings=cfg.model_dump(mode="json"),
    )  # fmt: skip


def run(
    params: Params, paths: Paths, model: str, protocol: str, runtime: Runtime | None = None
) -> dict[str, Any]:
    """Train one model for one protocol (what each DVC stage `train_<model>@<protocol>` runs),
    with its own params group; `runtime` defaults to the environment's settings."""
    catalog.spec(model)  # an unknown model is a clear error
    params.preprocess.definition(protocol)  # an unknown protocol is a clear error
    runtime = runtime or Runtime.from_env()
    shared = (params.models, paths, protocol, runtime)
    # Networks train and score on a fixed number of torch threads: the same bits on any machine.
    with torch_threads(TRAINING_THREADS):
        if model == "ae":
            return train_ae(params.train_ae, *shared)
        if model == "gan":
            return train_gan(params.train_gan, *shared)
        if model == "cnn_lstm":
            return train_cnn_lstm(params.train_cnn_lstm, *shared)
        if model == "knn":
            return train_knn(params.train_knn, *shared)
        if model == "rf":
            return train_rf(params.train_rf, *shared)
        return train_ensemble(params.ensemble, params.train_knn.encoding, *shared)
