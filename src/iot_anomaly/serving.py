"""Serving the champion: every component the ensemble and its AE and GAN side scores need,
loaded once from a registered or promoted version, and the scoring of rows for `predict`,
the monitoring and the promotion check."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from iot_anomaly import schema
from iot_anomaly.config import Paths
from iot_anomaly.data.preprocess import input_features, load_preprocessor, targets, transform
from iot_anomaly.evaluation import metrics as mt
from iot_anomaly.io import atomic_write
from iot_anomaly.models import ensemble as ens
from iot_anomaly.models.envelope import ServiceEnvelope, load_envelope
from iot_anomaly.models.inputs import unique_rows
from iot_anomaly.models.knn import KnnClassifier
from iot_anomaly.models.runner import SCORERS, LocalNetworks, Networks, network_files, read_record
from iot_anomaly.runtime import Runtime


def search_order(X: np.ndarray) -> np.ndarray:
    """An order of the rows along their first principal component. Queries that follow
    each other then visit the same part of the KNN index, which stays in the CPU cache: the
    search runs about a third faster, with the same answers."""
    if len(X) < 2:
        return np.arange(len(X))
    centred = X - X.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return np.argsort(centred @ vectors[:, -1], kind="stable")


@dataclass(frozen=True)
class Scored:
    """The champion's output once per distinct feature vector (`distinct`), and for each
    input row (`index`, its line) the position of its vector (`codes`)."""

    distinct: pd.DataFrame
    codes: np.ndarray
    index: pd.Index

    def __len__(self) -> int:
        return len(self.codes)

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """One row per input row (all columns, or those named), indexed like the input."""
        table = self.distinct if columns is None else self.distinct[columns]
        return table.iloc[self.codes].set_index(self.index)

    def csv_text(self, header: bool = True) -> str:
        """`self.frame().to_csv(index_label="line")`, but each distinct row is formatted
        once (by pandas, so the text is the same) and then repeated; without the header
        line for a chunk that follows another."""
        rows = self.distinct.to_csv(header=False, index=False, lineterminator="\n").split("\n")
        repeated = np.asarray(rows[: len(self.distinct)], dtype=object)[self.codes]
        names = ",".join([str(self.index.name or "line"), *map(str, self.distinct.columns)])
        body = "".join(map("{},{}\n".format, self.index.tolist(), repeated.tolist()))
        return f"{names}\n{body}" if header else body

    def write_csv(self, path: Path) -> Path:
        """Write the per-row predictions as CSV (atomically)."""
        text = self.csv_text()
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class VerdictCache:
    """The champion's output for the distinct feature vectors of earlier chunks, so that a
    streamed input scores each distinct vector once however it is cut into chunks. Holds at
    most `capacity` vectors; the oldest make room first. A vector is known by the same
    64-bit hash that `Champion.score` tells vectors apart by (models.inputs.unique_rows)."""

    def __init__(self, champion: Champion, capacity: int) -> None:
        self.champion = champion
        self.capacity = capacity
        self.slots: dict[int, int] = {}  # hash -> slot in `keys` and `table`
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.used = np.zeros(capacity, dtype=bool)
        self.columns: dict[str, np.ndarray] = {}  # the champion's output columns, per slot
        # Text columns are held as codes into their few values (category and layer names):
        # 4 bytes a row instead of a Python string each.
        self.texts: dict[str, dict[str, int]] = {}
        self.next = 0  # the slot the next vector takes

    def score(self, frame: pd.DataFrame) -> Scored:
        """`Champion.score(frame)`, scoring only the vectors this cache does not hold."""
        features = self.champion.features
        missing = [c for c in features if c not in frame.columns]
        if missing or frame.empty:
            return self.champion.score(frame)
        hashes = pd.util.hash_pandas_object(frame[features], index=False).to_numpy()
        codes, distinct = pd.factorize(hashes)
        first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
        found = np.fromiter(
            (self.slots.get(h, -1) for h in distinct.tolist()), np.int64, count=len(distinct)
        )
        parts = []
        known = np.flatnonzero(found >= 0)
        if len(known):  # read before new vectors take the oldest slots
            parts.append(self._held(found[known], known))
        new = np.flatnonzero(found < 0)
        if len(new):
            scored = self.champion.score(frame.iloc[first[new]])
            fresh = scored.distinct.iloc[scored.codes].reset_index(drop=True)
            self._keep(distinct[new], fresh)
            parts.append(fresh.set_index(new))
        table = pd.concat(parts) if len(parts) > 1 else parts[0]
        return Scored(table.sort_index().reset_index(drop=True), codes, frame.index)

    def _held(self, slots: np.ndarray, index: np.ndarray) -> pd.DataFrame:
        """The outputs held in `slots`, as the champion gave them, indexed by `index`."""
        table = {}
        for column, values in self.columns.items():
            held = values[slots]
            if column in self.texts:
                held = np.array(list(self.texts[column]), dtype=object)[held]
            table[column] = held
        return pd.DataFrame(table, index=index)

    def _keep(self, hashes: np.ndarray, rows: pd.DataFrame) -> None:
        """Remember the newest `capacity` of these vectors, overwriting the oldest."""
        hashes, rows = hashes[-self.capacity :], rows.iloc[-self.capacity :]
        if not self.columns:
            for column in rows.columns:
                dtype = rows[column].to_numpy().dtype
                text = dtype.kind == "O"
                self.columns[column] = np.empty(self.capacity, np.int32 if text else dtype)
                if text:
                    self.texts[column] = {}
        slots = (self.next + np.arange(len(hashes))) % self.capacity
        for old in self.keys[slots[self.used[slots]]].tolist():
            self.slots.pop(old, None)
        self.keys[slots], self.used[slots] = hashes, True
        for column, values in self.columns.items():
            given = rows[column].to_numpy()
            if column in self.texts:
                codes = self.texts[column]
                given = np.fromiter(
                    (codes.setdefault(v, len(codes)) for v in given), np.int32, len(given)
                )
            values[slots] = given
        self.slots.update(zip(hashes.tolist(), slots.tolist(), strict=True))
        self.next = int((self.next + len(hashes)) % self.capacity)


@dataclass
class Champion:
    """Every component the ensemble and its side scores need, loaded once. The networks
    are plain PyTorch modules (models/networks.py), in this process or in a helper process
    (models/runner.py): prediction never imports Lightning."""

    label_pre: Any
    onehot_pre: Any
    knn: KnnClassifier
    forest: Any
    envelope: ServiceEnvelope | None
    networks: Networks
    thresholds: dict[str, float]
    record: dict[str, Any]
    settings: Runtime = field(default_factory=Runtime)

    @classmethod
    def load(
        cls, paths: Paths, settings: Runtime | None = None, networks: Networks | None = None
    ) -> Champion:
        """Load the registered champion; its networks run in this process unless a running
        `networks` (e.g. the helper process of `start_networks`) is given. `settings` (how
        the work is spread) defaults to the environment's."""
        return cls.from_record(paths, read_record(paths), settings, networks)

    @classmethod
    def from_record(
        cls,
        paths: Paths,
        record: dict[str, Any],
        settings: Runtime | None = None,
        networks: Networks | None = None,
    ) -> Champion:
        """Load the components of `record["protocol"]` under `paths`, with the encodings that
        `record["params"]` (train_knn, train_ae) name: the registered champion's record, or
        one built for a protocol's models before anything is registered."""
        settings = settings or Runtime.from_env()
        protocol = record["protocol"]
        recorded = record["params"]  # the params groups it was trained with, as registered
        thresholds = {}
        for name in SCORERS:
            meta = json.loads((paths.model_dir(protocol, name) / "meta.json").read_text())
            thresholds[name] = float(meta["threshold"])
        return cls(
            label_pre=load_preprocessor(
                paths.preprocessor(protocol, recorded["train_knn"]["encoding"])
            ),
            onehot_pre=load_preprocessor(
                paths.preprocessor(protocol, recorded["train_ae"]["encoding"])
            ),
            knn=KnnClassifier.load(paths.model_dir(protocol, "knn") / "model"),
            forest=joblib.load(paths.model_dir(protocol, "ensemble") / "forest.joblib"),
            envelope=load_envelope(paths.model_dir(protocol, "ensemble")),
            networks=networks or LocalNetworks(network_files(paths, record), settings),
            thresholds=thresholds,
            record=record,
            settings=settings,
        )

    def _model_outputs(
        self, distinct: pd.DataFrame, X: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """KNN votes, CNN+LSTM probabilities and the anomaly scores of the distinct rows.

        The networks (in this thread or in the helper process) take one core until they
        answer; the other `predict_workers` - 1 threads make the one-hot rows and run the KNN search
        in chunks (faiss and torch release the GIL), and one more thread joins them once the
        networks are done. More threads than cores would only thrash the caches. No row's
        answer depends on how the rows are grouped (see `runner.run_padded` for the networks).
        """
        s = self.settings
        self.knn.threads = s.predict_threads
        chunks = [X[i : i + s.knn_chunk] for i in range(0, len(X), s.knn_chunk)]
        self.networks.start(X)
        if s.predict_workers == 1:
            proba, scores = self.networks.finish(lambda: transform(self.onehot_pre, distinct))
            return np.concatenate([self.knn.predict(c) for c in chunks]), proba, scores
        cores = threading.Semaphore(s.predict_workers - 1)

        def on_a_core(fn: Any, *args: Any) -> Any:
            with cores:
                return fn(*args)

        with ThreadPoolExecutor(max_workers=s.predict_workers) as pool:
            X_onehot = pool.submit(on_a_core, transform, self.onehot_pre, distinct)
            knn = [pool.submit(on_a_core, self.knn.predict, chunk) for chunk in chunks]
            try:
                proba, scores = self.networks.finish(X_onehot.result)
            finally:
                cores.release()  # the networks' core goes to the KNN search
            votes = np.concatenate([f.result() for f in knn])
        return votes, proba, scores

    @property
    def features(self) -> list[str]:
        """The columns the champion reads (its protocol's feature set: the 41 KDD features,
        or the flow features for a flow protocol); a frame's other columns are ignored."""
        return input_features(self.label_pre)

    def score(self, frame: pd.DataFrame) -> Scored:
        """Score each distinct vector of the champion's features in `frame` once: category,
        attack yes/no, each layer's vote, the deciding layer, the AE and GAN scores and
        verdicts. Any other column (a content feature a flow source leaves NaN, provenance)
        is not read, and may be absent."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the champion ({self.record.get('protocol')}) reads the feature columns "
                f"{missing}, which the rows lack"
            )
        if frame.empty:  # every line quarantined: a table with no rows
            none = np.empty(0, np.int64)
            decision = ens.EnsembleDecision(none, none, none, none, none)
            scores = {name: np.empty(0, np.float32) for name in SCORERS}
            return Scored(self._table(decision, scores), none, frame.index)
        first, codes = unique_rows(frame, self.features)
        X = transform(self.label_pre, frame.iloc[first])
        order = search_order(X)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        X, distinct = X[order], frame.iloc[first[order]]
        knn_votes, proba, scores = self._model_outputs(distinct, X)
        outside = None if self.envelope is None else self.envelope.outside(distinct)
        decision = ens.combine(knn_votes, proba, self.forest, X, outside)
        return Scored(self._table(decision, scores), rank[codes], frame.index)

    def _table(self, decision: ens.EnsembleDecision, scores: dict[str, np.ndarray]) -> pd.DataFrame:
        """The output columns, one row per scored feature vector."""
        names = np.array(schema.CATEGORIES)
        out = pd.DataFrame(
            {
                "category": names[decision.category],
                "attack": decision.category != schema.category_index(schema.NORMAL),
                "knn": names[decision.knn],
                "cnn_lstm": names[decision.cnn_lstm],
                "forest": np.where(decision.forest >= 0, names[np.maximum(decision.forest, 0)], ""),
                "decided_by": np.array(ens.LAYERS)[decision.layer],
            }
        )
        for name, values in scores.items():
            out[f"{name}_score"] = values
            out[f"{name}_attack"] = values > self.thresholds[name]
        return out

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per row of `frame` (same index); see `score`."""
        return self.score(frame).frame()

    def close(self) -> None:
        """Release the networks (stop their helper process, if any)."""
        self.networks.close()


def confusion(frame: pd.DataFrame, predictions: pd.DataFrame) -> np.ndarray:
    """The 5x5 confusion counts (rows true, columns predicted category) of predictions
    against a labelled frame: what `metrics_from_confusion` needs, in 25 numbers however
    many rows a streamed input has."""
    category, _ = targets(frame)
    predicted = pd.Categorical(predictions["category"], categories=schema.CATEGORIES).codes
    n = len(schema.CATEGORIES)
    pairs = category.astype(np.int64) * n + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=n * n).reshape(n, n)


def metrics_from_confusion(counts: np.ndarray) -> dict[str, Any]:
    """Binary and 5-class metrics and the KDD cost of a 5x5 confusion matrix: each of its
    cells counted as that many rows (attack is any category but normal, on both sides)."""
    true, predicted = np.nonzero(counts)
    weight = counts[true, predicted].astype(np.float64)
    normal = schema.category_index(schema.NORMAL)
    return {
        "binary": mt.binary_metrics(
            (true != normal).astype(np.int8), (predicted != normal).astype(np.int8), weight
        ),
        "multiclass": mt.multiclass_metrics(true, predicted, weight),
        "kdd_cost": mt.cost_from_confusion(counts),
    }


def labelled_metrics(frame: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, Any]:
    """Metrics of the champion's predictions against a labelled frame."""
    category, attack = targets(frame)
    predicted = pd.Categorical(predictions["category"], categories=schema.CATEGORIES).codes
    # Small integer types: the same figures, computed in half the time.
    category, predicted = category.astype(np.int8), predicted.astype(np.int8)
    return {
        "binary": mt.binary_metrics(
            attack.astype(np.int8), predictions["attack"].to_numpy().astype(np.int8)
        ),
        "multiclass": mt.multiclass_metrics(category, predicted),
        "kdd_cost": mt.kdd_cost(category, predicted),
    }
