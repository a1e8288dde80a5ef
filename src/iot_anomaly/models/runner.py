"""Where the champion's networks (CNN+LSTM, autoencoder, GAN) run when `predict` scores.

Importing PyTorch takes over a second. `predict` therefore forks a helper process first
thing: the helper imports PyTorch and loads the networks while the parent imports pandas and
scikit-learn and parses the input; then the helper runs the networks while the parent runs
the KNN search. With `IOT_ANOMALY_PREDICT_WORKERS=1` the networks run in this process
instead. Either way each network sees the same rows and gives the same numbers.

This module imports only the standard library, numpy and the project's settings (pydantic),
so that the helper can start before anything heavy is imported.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from iot_anomaly.config import Paths
from iot_anomaly.models import catalog
from iot_anomaly.runtime import Runtime

NETWORKS = catalog.NETWORKS  # the CNN+LSTM votes; the AE and GAN score
SCORERS = catalog.SCORERS


def read_record(paths: Paths) -> dict[str, Any]:
    """The registry record of the champion (artifacts/registry/champion.json)."""
    registry = paths.artifacts / "registry" / "champion.json"
    if not registry.is_file():
        raise FileNotFoundError(f"{registry}: no champion registered; run `dvc repro` first")
    return json.loads(registry.read_text())


def network_files(paths: Paths, record: dict[str, Any]) -> dict[str, Path]:
    return {name: paths.model_dir(record["protocol"], name) / "model.pt" for name in NETWORKS}


def _load_all(files: dict[str, Path], threads: int) -> dict[str, Any]:
    import torch

    from iot_anomaly.models.networks import load_network

    torch.set_num_threads(threads)
    return {name: load_network(path) for name, path in files.items()}


class Networks(Protocol):
    """Runs the networks: `start` with the label-encoded rows, `finish` with a function that
    gives the one-hot rows (called once they are needed); `finish` returns the CNN+LSTM's
    class probabilities and the anomaly scores."""

    def start(self, X: np.ndarray) -> None: ...

    def finish(
        self, onehot: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...

    def close(self) -> None: ...


def run_padded(net: Any, X: np.ndarray, batch_size: int) -> np.ndarray:
    """The network's output for every row of X, always in batches of exactly `batch_size`
    rows (the last one padded with zeros). The matrix kernels, and so the float rounding,
    depend on a batch's size: with one size for every batch, a row's score is the same
    whichever rows come with it, so a streamed input scores as it would whole."""
    import torch

    X = np.ascontiguousarray(X, dtype=np.float32)
    padded = np.zeros((-(-len(X) // batch_size) * batch_size, *X.shape[1:]), np.float32)
    padded[: len(X)] = X
    with torch.inference_mode():
        if not len(X):  # no batch at all: the network's empty answer, shaped as usual
            return net.predict(torch.from_numpy(X)).numpy()
        out = [
            net.predict(torch.from_numpy(padded[start : start + batch_size])).numpy()
            for start in range(0, len(X), batch_size)
        ]
    return np.concatenate(out)[: len(X)]


class LocalNetworks:
    """The networks loaded and run in this process (in the calling thread)."""

    def __init__(self, files: dict[str, Path], settings: Runtime) -> None:
        self.nets = _load_all(files, settings.predict_threads)
        self.settings = settings
        self._X: np.ndarray | None = None

    def start(self, X: np.ndarray) -> None:
        self._X = X

    def finish(self, onehot: Callable[[], np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self._X is None:
            raise RuntimeError("finish() before start()")
        X, self._X = self._X, None
        size = self.settings.predict_batch_size
        proba = run_padded(self.nets["cnn_lstm"], X, size)  # while the one-hot rows are made
        X_onehot = onehot()
        return proba, {name: run_padded(self.nets[name], X_onehot, size) for name in SCORERS}

    def close(self) -> None:
        """Nothing to release."""


def _serve(conn: Connection, files: dict[str, Path], settings: Runtime) -> None:
    """The helper process: load the networks; then, for each request, run the CNN+LSTM on X
    as soon as it arrives, then the scorers on X_onehot, and answer. Nothing is sent before
    both arrays of a request have arrived, so neither side can block the other. It ends
    when the parent closes the pipe."""
    try:
        nets = _load_all(files, settings.predict_threads)
        size = settings.predict_batch_size
        while True:
            proba = run_padded(nets["cnn_lstm"], conn.recv(), size)
            X_onehot = conn.recv()
            scores = {name: run_padded(nets[name], X_onehot, size) for name in SCORERS}
            conn.send(("ok", (proba, scores)))
    except EOFError:  # the parent closed the pipe: done, or it gave up before an answer
        pass
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _start_method() -> str:
    """fork (fast: the helper starts at once) unless this process has already loaded an
    OpenMP runtime (torch, faiss), whose threads do not survive a fork: then spawn."""
    loaded = any(name in sys.modules for name in ("torch", "faiss"))
    return "fork" if not loaded and "fork" in mp.get_all_start_methods() else "spawn"


class NetworkProcess:
    """The networks in a helper process, started before the parent's heavy imports."""

    def __init__(self, files: dict[str, Path], settings: Runtime) -> None:
        ctx = mp.get_context(_start_method())
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(child, files, settings), name="iot-anomaly-networks", daemon=True
        )
        self._process.start()
        child.close()

    def start(self, X: np.ndarray) -> None:
        self._conn.send(X)

    def finish(self, onehot: Callable[[], np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self._conn.send(onehot())
        try:
            status, result = self._conn.recv()
        except EOFError:
            raise RuntimeError("the networks' helper process stopped without an answer") from None
        if status != "ok":
            raise RuntimeError(f"the networks' helper process failed:\n{result}")
        return result

    def close(self) -> None:
        """Close the pipe (a helper still waiting for input exits) and reap the helper."""
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def start_networks(paths: Paths, settings: Runtime) -> Networks:
    """The champion's networks: in a helper process when `predict_workers` > 1, else in this
    process. Raises if no champion is registered."""
    files = network_files(paths, read_record(paths))
    if settings.predict_workers > 1:
        return NetworkProcess(files, settings)
    return LocalNetworks(files, settings)
