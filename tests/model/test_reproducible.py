"""The same training gives the same model folder, byte for byte; a network is saved as its
plain class and scores as it did inside its Lightning module."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from iot_anomaly.models import catalog
from iot_anomaly.models.autoencoder import Autoencoder
from iot_anomaly.models.cnn_lstm import CnnLstm
from iot_anomaly.models.gan import BiGAN
from iot_anomaly.models.lightning import (
    FIT_SUMMARY,
    ArrayDataModule,
    KeepBest,
    NetworkModule,
    fit,
    training_logs,
)
from iot_anomaly.models.networks import load_network, run_batched, save_network
from iot_anomaly.runtime import Runtime
from iot_anomaly.stages import train
from iot_anomaly.stages.study import SeedPaths
from tests.helpers import run_tool

PROTOCOL = "paper"
# The second training runs in a fresh interpreter (its own hash seed, nothing left over from
# the first) on another number of threads.
SECOND_RUN = """
import sys
from pathlib import Path
from iot_anomaly.config import load_params
from iot_anomaly.models import catalog
from iot_anomaly.stages import train
from iot_anomaly.stages.study import SeedPaths
root, out, protocol = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
params = load_params(root / "params.yaml")
for model in catalog.TRAINING_ORDER:
    train.run(params, SeedPaths(root, out), model, protocol)
"""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_training_twice_gives_byte_identical_model_folders(trained, tmp_path: Path) -> None:
    params, paths = trained
    first, second = (
        SeedPaths(paths.root, tmp_path / "first"),
        SeedPaths(paths.root, tmp_path / "second"),
    )
    for model in catalog.TRAINING_ORDER:
        train.run(params, first, model, PROTOCOL, Runtime(threads=1, progress=False))
    run_tool(
        [sys.executable, "-c", SECOND_RUN, str(paths.root), str(second.seed_dir), PROTOCOL],
        tmp_path,
        {"PYTHONHASHSEED": "12345", "IOT_ANOMALY_THREADS": "2", "IOT_ANOMALY_PROGRESS": "0"},
    )
    for model in catalog.TRAINING_ORDER:
        ours, theirs = first.model_dir(PROTOCOL, model), second.model_dir(PROTOCOL, model)
        files = _files(ours)
        assert "meta.json" in files and len(files) >= 2, model
        assert sorted(files) == sorted(_files(theirs)), model
        for name, data in files.items():
            assert data == (theirs / name).read_bytes(), f"{model}/{name} differs"
        assert not any(
            part in ("logs", "checkpoints") for name in files for part in Path(name).parts
        )
    for model in ("ae", "gan", "cnn_lstm"):  # the training logs went beside the folder
        assert (training_logs(first.model_dir(PROTOCOL, model)) / "metrics.csv").is_file()


def _tiny_data(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, ArrayDataModule]:
    """Random rows: normal training rows and a validation slice with attacks (scorers), or
    four categories set by two features (the classifier); also the validation rows, targets
    and weights."""
    rng = np.random.default_rng(0)
    X, X_val = rng.random((600, 12), dtype=np.float32), rng.random((300, 12), dtype=np.float32)
    weight, val_weight = rng.random(600, dtype=np.float32) + 0.5, np.ones(300, np.float32)
    if kind == "classifier":
        y, y_val = (X[:, :2] > 0.5) @ [1, 2], (X_val[:, :2] > 0.5) @ [1, 2]
        return X_val, y_val, val_weight, ArrayDataModule((X, y, weight), (X_val, y_val), 64)
    attack = (X_val[:, 0] > 0.7).astype(np.int64)
    X_val[attack == 1, 1] += 0.3
    data = ArrayDataModule((X, np.zeros(600, np.int64), weight), (X_val, attack, val_weight), 64)
    return X_val, attack, val_weight, data


@pytest.mark.parametrize(
    ("module", "settings", "monitor"),
    [
        (Autoencoder, {"hidden": [8, 4], "activations": ["tanh", "relu"]}, "val_auroc"),
        (BiGAN, {"latent_dim": 4, "gen_hidden": [8], "enc_hidden": [8], "disc_hidden": [8],
                 "score_loss": "cross_entropy", "spectral_norm": True}, "val_auroc"),
        (BiGAN, {"latent_dim": 4, "gen_hidden": [8], "enc_hidden": [8], "disc_hidden": [8, 8],
                 "recon_weight": 10.0}, "val_auroc"),
        (CnnLstm, {"channels": [4], "lstm_hidden": 8, "optimizer": "adam", "lr": 0.01}, "val_acc"),
    ],
)  # fmt: skip
def test_a_saved_network_scores_as_in_its_lightning_module(
    module: type[NetworkModule], settings: dict, monitor: str, tmp_path: Path
) -> None:
    """What Lightning's validation measured for the epoch kept, the saved network, loaded
    as its plain class, measures again exactly; saving twice gives the same bytes."""
    X_val, target, val_weight, data = _tiny_data("classifier" if monitor == "val_acc" else "scorer")
    logs = tmp_path / "logs"
    net = fit(lambda: module.from_settings(12, **settings), data, logs, 4, monitor, "max", 1, False)
    assert type(net) is module.network_class and not net.training
    saved = save_network(net, tmp_path / "a" / "model.pt")
    assert save_network(net, tmp_path / "b" / "model.pt").read_bytes() == saved.read_bytes()
    loaded = load_network(saved)
    assert type(loaded) is module.network_class and "lightning" not in type(loaded).__module__
    out = run_batched(loaded, X_val)
    np.testing.assert_array_equal(out, run_batched(net, X_val))
    for batch_size in (7, 64):
        np.testing.assert_array_equal(run_batched(loaded, X_val, batch_size), out)
    if monitor == "val_acc":
        figure = float((out.argmax(axis=1) == target).mean())
    else:
        figure = float(roc_auc_score(target, out, sample_weight=val_weight))
    summary = json.loads((logs / FIT_SUMMARY).read_text())
    assert summary[monitor] == float(np.float32(figure))  # Lightning logs float32
    # On these rows the best epoch is not the last: the last epoch's weights would fail.
    assert summary["epochs"] == 4 and summary["kept_epoch"] < 3
    per_epoch = pd.read_csv(logs / "metrics.csv")[monitor].dropna().tolist()
    assert max(per_epoch) == per_epoch[summary["kept_epoch"]] != per_epoch[-1]


def test_settings_split_between_the_network_and_its_trainer() -> None:
    model = BiGAN.from_settings(6, latent_dim=3, gen_hidden=[4], recon_weight=2.0)
    assert model.net.args["latent_dim"] == 3 and model.hparams.recon_weight == 2.0
    assert model.net.args["n_features"] == 6 and "recon_weight" not in model.net.args
    with pytest.raises(TypeError):
        Autoencoder.from_settings(6, hidden=[4], activations=["relu"], epochs=3)
    with pytest.raises(ValueError, match="score_loss"):
        BiGAN.from_settings(6, score_loss="hinge")


def test_keep_best_keeps_the_first_best_epoch() -> None:
    """The kept weights are those after the first validation with the best figure; NaN
    counts as the worst; nothing is kept from the sanity check."""
    keep = KeepBest("val_auroc", "max")
    weights = iter(range(10))

    class Module:
        net = SimpleNamespace(state_dict=lambda: {"w": torch.tensor(float(next(weights)))})

    def validate(value: float, epoch: int, sanity: bool = False) -> None:
        trainer = SimpleNamespace(
            sanity_checking=sanity,
            callback_metrics={"val_auroc": torch.tensor(value)},
            current_epoch=epoch,
        )
        keep.on_validation_end(trainer, Module())

    validate(0.99, 0, sanity=True)
    assert keep.state is None
    for epoch, value in enumerate([float("nan"), 0.8, 0.9, 0.9, 0.7]):
        validate(value, epoch)
    assert (keep.epoch, keep.best, float(keep.state["w"])) == (2, pytest.approx(0.9), 2.0)
    with pytest.raises(ValueError, match="mode"):
        KeepBest("val_acc", "most")
