"""K-nearest neighbours (the ensemble's first layer) over unique training rows.

Search runs in faiss: `exact` (brute force, as sklearn's KNN would answer), `ivf` (rows
grouped into `nlist` k-means cells; a query searches exactly the `nprobe` nearest cells) or
`hnsw` (a navigable small-world graph). Both approximate indexes are what lets the ensemble
score tens of thousands of records per second; on this data `ivf` is the faster and the more
faithful to exact search (measured in the README, Models). Each unique training row votes
with its duplicate count, so the vote is the one the raw rows would cast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from iot_anomaly import schema

INDEXES = ("exact", "ivf", "hnsw")
# Saved with the index. Not `threads`: how many cores search is a property of the machine,
# and the saved model must be the same bytes wherever it was trained.
_SETTINGS = (
    "k", "index_type", "nlist", "nprobe", "hnsw_m", "ef_construction", "ef_search", "seed",
)  # fmt: skip
# faiss's k-means wants at least this many training rows per cell; fewer rows, fewer cells.
MIN_ROWS_PER_CELL = 39
N_CLASSES = len(schema.CATEGORIES)


@dataclass
class KnnClassifier:
    """Majority (count-weighted) vote of the k nearest unique training rows."""

    k: int = 1
    index_type: str = "ivf"
    nlist: int = 1024
    nprobe: int = 8
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    threads: int = 2
    seed: int = 0
    _index: Any = field(default=None, repr=False)
    _labels: np.ndarray | None = field(default=None, repr=False)
    _weights: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.index_type not in INDEXES:
            raise ValueError(f"index_type must be one of {INDEXES}, not {self.index_type!r}")
        if self.k < 1:
            raise ValueError("k must be at least 1")
        if self.nlist < 1 or self.nprobe < 1:
            raise ValueError("nlist and nprobe must be at least 1")

    def fit(self, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> KnnClassifier:
        faiss.omp_set_num_threads(self.threads)
        X = np.ascontiguousarray(X, dtype=np.float32)
        if self.index_type == "exact":
            index = faiss.IndexFlatL2(X.shape[1])
        elif self.index_type == "ivf":
            index = self._ivf(X)
        else:
            index = faiss.IndexHNSWFlat(X.shape[1], self.hnsw_m)
            index.hnsw.efConstruction = self.ef_construction
        index.add(X)
        self._index = index
        self._labels = np.asarray(y, dtype=np.int64)
        self._weights = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        return self

    def _ivf(self, X: np.ndarray) -> Any:
        """An IVF index whose cells are k-means clusters of the training rows. k-means runs
        on one thread with our seed, so the cells do not depend on the machine's cores."""
        cells = max(1, min(self.nlist, len(X) // MIN_ROWS_PER_CELL))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(X.shape[1]), X.shape[1], cells)
        index.cp.seed = self.seed
        faiss.omp_set_num_threads(1)
        try:
            index.train(X)
        finally:
            faiss.omp_set_num_threads(self.threads)
        return index

    def _search(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            raise RuntimeError("KnnClassifier is not fitted")
        faiss.omp_set_num_threads(self.threads)
        if self.index_type == "hnsw":
            self._index.hnsw.efSearch = max(self.ef_search, self.k)
        elif self.index_type == "ivf":
            self._index.nprobe = min(self.nprobe, self._index.nlist)
        return self._index.search(np.ascontiguousarray(X, dtype=np.float32), self.k)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Share of the (count-weighted) neighbour vote per category."""
        _, neighbours = self._search(X)
        valid = neighbours >= 0
        idx = np.where(valid, neighbours, 0)
        votes = np.zeros((len(X), N_CLASSES))
        w = np.where(valid, self._weights[idx], 0.0)
        np.add.at(votes, (np.arange(len(X))[:, None].repeat(self.k, 1), self._labels[idx]), w)
        total = votes.sum(axis=1, keepdims=True)
        return votes / np.where(total > 0, total, 1.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def save(self, path: Path) -> Path:
        """Index in faiss's own format beside a .npz of labels, weights and settings."""
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(path.with_suffix(".faiss")))
        settings = {k: getattr(self, k) for k in _SETTINGS}
        np.savez(
            path.with_suffix(".npz"),
            labels=self._labels,
            weights=self._weights,
            settings=np.array([json.dumps(settings)]),
        )
        return path.with_suffix(".npz")

    @classmethod
    def load(cls, path: Path) -> KnnClassifier:
        saved = np.load(path.with_suffix(".npz"))
        model = cls(**json.loads(str(saved["settings"][0])))
        model._index = faiss.read_index(str(path.with_suffix(".faiss")))
        model._labels, model._weights = saved["labels"], saved["weights"]
        return model
