"""Supervised CNN+LSTM over the feature vector (the ensemble's second layer): Conv1d layers
read the label-encoded features as a sequence, an LSTM runs over the convolved sequence, and
a dense head gives the 5 categories. Sparse categorical cross-entropy, SGD by default (as in
the paper); the best epoch by validation accuracy is kept."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from iot_anomaly import schema
from iot_anomaly.models.lightning import batched
from iot_anomaly.models.networks import cnn_lstm_layers, cnn_lstm_logits

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
        self.conv, self.lstm, self.head = cnn_lstm_layers(
            n_classes, channels, kernel_size, lstm_hidden, dropout
        )
        self._val_correct = 0
        self._val_total = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of encoded rows (batch, n_features)."""
        return cnn_lstm_logits(self.conv, self.lstm, self.head, x)

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
