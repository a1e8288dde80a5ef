"""Semi-supervised autoencoder: learns to reconstruct normal traffic; the reconstruction
error of a row is its anomaly score (the paper's AE: one-hot input, 3 hidden layers with tanh
and ReLU, mirrored decoder; the layers are `networks.AutoencoderNet`)."""

from __future__ import annotations

import numpy as np
import torch

from iot_anomaly.models.lightning import AnomalyScorer
from iot_anomaly.models.networks import AutoencoderNet


class Autoencoder(AnomalyScorer):
    """Trains the network to reconstruct its (duplicate-weighted) input: Adam on the mean
    squared reconstruction error."""

    network_class = AutoencoderNet

    def __init__(self, net: AutoencoderNet, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(net)
        self.save_hyperparameters(ignore=["net"])

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        x, _, weight = batch
        loss = (self.net.predict(x) * weight).sum() / weight.sum()
        self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.net.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-th percentile (0..100) of values where each value counts `weight` times."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    index = min(int(np.searchsorted(cum, q / 100.0 * cum[-1])), len(values) - 1)
    return float(values[order][index])
