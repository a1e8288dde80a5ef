"""What the three Lightning networks share: the DataModule, the Trainer, prediction."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader, TensorDataset

for _name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*GPU available but not used.*")


class AnomalyScorer(pl.LightningModule):
    """A network whose `anomaly_score` ranks rows; validation logs its ROC-AUC on a held-out
    labelled slice (`val_auroc`), by which the best checkpoint is kept. Validation batches
    are (features, attack flag, duplicate count)."""

    def __init__(self) -> None:
        super().__init__()
        self._val_scores: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._val_weights: list[torch.Tensor] = []

    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define anomaly_score")

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, attack, weight = batch
        self._val_scores.append(self.anomaly_score(x))
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

    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly scores for encoded rows (higher = more anomalous)."""
        self.eval()
        return batched(self.anomaly_score, X.astype(np.float32, copy=False))


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


def fit(
    make_model: Callable[[], pl.LightningModule],
    data: ArrayDataModule,
    out_dir: Path,
    max_epochs: int,
    monitor: str,
    mode: str,
    seed: int,
    progress: bool = True,
) -> pl.LightningModule:
    """Seed, build the model, and train deterministically on the CPU; return the best
    checkpoint by `monitor`. The model is built after seeding so that its initial weights,
    too, come from the seed.

    Lightning's CSV logger writes every logged loss to `out_dir/logs`, and the checkpoint
    callback keeps only the best epoch's weights.
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    model = make_model()
    checkpoint = ModelCheckpoint(
        dirpath=out_dir / "checkpoints",
        filename="best",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        enable_version_counter=False,
    )
    callbacks: list[Any] = [checkpoint]
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=20))
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        deterministic=True,
        logger=CSVLogger(out_dir, name="logs", version=""),
        callbacks=callbacks,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=data)
    best = checkpoint.best_model_path
    if not best:
        raise RuntimeError(f"training produced no checkpoint for '{monitor}'")
    return type(model).load_from_checkpoint(best, map_location="cpu")


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray, size: int = 65536
) -> np.ndarray:
    """Apply `fn` to X in batches, without gradients; returns a numpy array."""
    out = [fn(torch.as_tensor(X[i : i + size])).cpu().numpy() for i in range(0, len(X), size)]
    return np.concatenate(out) if out else np.empty((0,), dtype=np.float32)


def save_module(model: pl.LightningModule, path: Path) -> Path:
    """Save hyperparameters and weights: enough to rebuild the module without Lightning's
    checkpoint machinery (what prediction loads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"hparams": dict(model.hparams), "state_dict": model.state_dict()}, path)
    return path


def load_module(cls: type[pl.LightningModule], path: Path) -> pl.LightningModule:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = cls(**saved["hparams"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
