"""What the three Lightning modules share: the module around a plain network, the
DataModule, and the Trainer, which returns the best epoch's network."""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
import operator
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, TensorDataset

from iot_anomaly.models.networks import Network

for _name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*GPU available but not used.*")

FIT_SUMMARY = "fit.json"  # in the training logs: wall time, epochs, the epoch kept


class NetworkModule(pl.LightningModule):
    """Trains a plain network (models/networks.py), held as `self.net`; the module adds
    only the losses, the optimisers and the validation figure."""

    network_class: ClassVar[type[Network]]

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net

    @classmethod
    def from_settings(cls, n_features: int, **settings: Any) -> Self:
        """The module and its network from one flat group of settings: the network takes
        the arguments its constructor names, the module the others (an unknown one is an
        error)."""
        accepted = inspect.signature(cls.network_class).parameters
        net_args = {k: v for k, v in settings.items() if k in accepted}
        own = {k: v for k, v in settings.items() if k not in accepted}
        return cls(cls.network_class(n_features=n_features, **net_args), **own)


class AnomalyScorer(NetworkModule):
    """A network whose `predict` ranks rows; validation logs its ROC-AUC on a held-out
    labelled slice (`val_auroc`), by which the best epoch is kept. Validation batches are
    (features, attack flag, duplicate count)."""

    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self._val_scores: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._val_weights: list[torch.Tensor] = []

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, attack, weight = batch
        self._val_scores.append(self.net.predict(x))
        self._val_targets.append(attack)
        self._val_weights.append(weight)

    def on_validation_epoch_end(self) -> None:
        scores, target, weight = (
            torch.cat(parts).cpu().numpy()
            for parts in (self._val_scores, self._val_targets, self._val_weights)
        )
        for parts in (self._val_scores, self._val_targets, self._val_weights):
            parts.clear()
        both = 0 < target.sum() < len(target)
        # Weighted by duplicate counts, as the raw traffic (and the test split) counts rows.
        auroc = roc_auc_score(target, scores, sample_weight=weight) if both else 0.5
        self.log("val_auroc", float(auroc), prog_bar=True)


class ArrayDataModule(pl.LightningDataModule):
    """Tensors in memory: (features, target, weight) for training, (features, target) for
    validation. The target is whatever the model needs (category index or attack flag)."""

    def __init__(
        self,
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        batch_size: int,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_set = TensorDataset(*(torch.as_tensor(a) for a in train))
        self.val_set = TensorDataset(*(torch.as_tensor(a) for a in val))
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set, batch_size=max(self.batch_size, 4096), num_workers=self.num_workers
        )


class KeepBest(Callback):
    """Keeps in memory the network's weights after the validation with the best `monitor`
    value (the first of equals; NaN counts as the worst): no checkpoint file is written."""

    def __init__(self, monitor: str, mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.monitor = monitor
        self.better = operator.gt if mode == "max" else operator.lt
        self.worst = -math.inf if mode == "max" else math.inf
        self.best: float | None = None
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        value = self.worst if math.isnan(value) else value
        if self.best is None or self.better(value, self.best):
            self.best, self.epoch = value, trainer.current_epoch
            self.state = copy.deepcopy(pl_module.net.state_dict())


def training_logs(model_dir: Path) -> Path:
    """Where a network's training logs go: beside its model folder, not in it, since the
    model folder must be the same bytes whenever the same training runs again."""
    return model_dir.parent / "logs" / model_dir.name


TRAINING_THREADS = 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on `n` torch intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(
    make_model: Callable[[], NetworkModule],
    data: ArrayDataModule,
    log_dir: Path,
    max_epochs: int,
    monitor: str,
    mode: str,
    seed: int,
    progress: bool = True,
) -> Network:
    """Seed, build the module, train deterministically on the CPU; return its network with
    the weights of the best epoch by `monitor`, in eval mode. The module is built after
    seeding so that its initial weights, too, come from the seed.

    Lightning's CSV logger writes every logged loss to `log_dir/metrics.csv`; `log_dir`
    also gets FIT_SUMMARY (the wall time and the epoch kept).

    Training runs on TRAINING_THREADS torch threads whatever the machine: how a sum is split
    over threads changes its last bits, so the same weights on every machine need the same
    count. One thread costs little on networks this small, and the training flow runs
    several trainings side by side.
    """
    with torch_threads(TRAINING_THREADS):
        pl.seed_everything(seed, workers=True, verbose=False)
        model = make_model()
        keep = KeepBest(monitor, mode)
        callbacks: list[Any] = [keep]
        if progress:
            callbacks.append(TQDMProgressBar(refresh_rate=20))
        trainer = pl.Trainer(
            max_epochs=max_epochs,
            accelerator="cpu",
            devices=1,
            deterministic=True,
            default_root_dir=log_dir,
            logger=CSVLogger(log_dir.parent, name=log_dir.name, version=""),
            callbacks=callbacks,
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        started = time.perf_counter()
        trainer.fit(model, datamodule=data)
        seconds = time.perf_counter() - started
        if keep.state is None:
            raise RuntimeError(f"training logged no '{monitor}' to choose an epoch by")
        model.net.load_state_dict(keep.state)
        summary = {"seconds": round(seconds, 1), "epochs": trainer.current_epoch}
        summary |= {"kept_epoch": keep.epoch, monitor: keep.best}
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / FIT_SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
        return model.net.eval()
