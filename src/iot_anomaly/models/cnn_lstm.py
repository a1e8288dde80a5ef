"""Supervised CNN+LSTM over the feature vector (the ensemble's second layer): Conv1d layers
read the label-encoded features as a sequence, an LSTM runs over the convolved sequence, and
a dense head gives the 5 categories. Sparse categorical cross-entropy, SGD by default (as in
the paper); the best epoch by validation accuracy is kept."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from iot_anomaly import schema
from iot_anomaly.models.lightning import batched

OPTIMIZERS = ("sgd", "adam")


class CnnLstm(pl.LightningModule):
    def __init__(
        self,
        n_features: int,
        n_classes: int = len(schema.CATEGORIES),
        channels: tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        lstm_hidden: int = 64,
        dropout: float = 0.2,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}")
        self.save_hyperparameters()
        convs: list[nn.Module] = []
        n_in = 1
        for n_out in channels:
            convs += [
                nn.Conv1d(n_in, n_out, kernel_size, padding=kernel_size // 2),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            n_in = n_out
        self.conv = nn.Sequential(*convs)
        self.lstm = nn.LSTM(n_in, lstm_hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(lstm_hidden, n_classes))
        self._val_correct = 0
        self._val_total = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of encoded rows (batch, n_features)."""
        seq = self.conv(x.unsqueeze(1)).transpose(1, 2)  # (batch, steps, channels)
        _, (hidden, _) = self.lstm(seq)
        return self.head(hidden[-1])

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        x, y, weight = batch
        losses = F.cross_entropy(self(x), y, reduction="none")
        loss = (losses * weight).sum() / weight.sum()
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, y = batch
        self._val_correct += int((self(x).argmax(dim=1) == y).sum())
        self._val_total += len(y)

    def on_validation_epoch_end(self) -> None:
        self.log("val_acc", self._val_correct / max(self._val_total, 1), prog_bar=True)
        self._val_correct = self._val_total = 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        if hp.optimizer == "sgd":
            return torch.optim.SGD(
                self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per encoded input row."""
        self.eval()
        return batched(lambda x: F.softmax(self(x), dim=1), X.astype(np.float32, copy=False))
