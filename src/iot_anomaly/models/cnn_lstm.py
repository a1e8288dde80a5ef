"""Supervised CNN+LSTM over the feature vector (the ensemble's second layer; the layers are
`networks.CnnLstmNet`). Sparse categorical cross-entropy, SGD by default (as in the paper);
the best epoch by validation accuracy is kept."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from iot_anomaly.models.lightning import NetworkModule
from iot_anomaly.models.networks import CnnLstmNet

OPTIMIZERS = ("sgd", "adam")


class CnnLstm(NetworkModule):
    """Trains the network on (duplicate-weighted) categories; validation logs `val_acc`."""

    network_class = CnnLstmNet

    def __init__(
        self,
        net: CnnLstmNet,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(net)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}")
        self.save_hyperparameters(ignore=["net"])
        self._val_correct = 0
        self._val_total = 0

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        x, y, weight = batch
        losses = F.cross_entropy(self.net(x), y, reduction="none")
        loss = (losses * weight).sum() / weight.sum()
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, y = batch
        self._val_correct += int((self.net(x).argmax(dim=1) == y).sum())
        self._val_total += len(y)

    def on_validation_epoch_end(self) -> None:
        self.log("val_acc", self._val_correct / max(self._val_total, 1), prog_bar=True)
        self._val_correct = self._val_total = 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        if hp.optimizer == "sgd":
            return torch.optim.SGD(
                self.net.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
            )
        return torch.optim.Adam(self.net.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
