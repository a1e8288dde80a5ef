"""Semi-supervised autoencoder: learns to reconstruct normal traffic; the reconstruction
error of a row is its anomaly score (the paper's AE: one-hot input, 3 hidden layers with tanh
and ReLU, mirrored decoder)."""

from __future__ import annotations

import numpy as np
import torch

from iot_anomaly.models.lightning import AnomalyScorer
from iot_anomaly.models.networks import mlp, reconstruction_error


class Autoencoder(AnomalyScorer):
    """Encoder n → h1 → h2 → h3 and the mirrored decoder; linear output."""

    def __init__(
        self,
        n_features: int,
        hidden: tuple[int, ...] = (64, 32, 16),
        activations: tuple[str, ...] = ("tanh", "relu", "relu"),
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        hidden, activations = list(hidden), list(activations)
        self.encoder = mlp([n_features, *hidden], activations)
        self.decoder = mlp([*hidden[::-1], n_features], activations[::-1][1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-row mean squared reconstruction error."""
        return reconstruction_error(self(x), x)

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        x, _, weight = batch
        loss = (self.anomaly_score(x) * weight).sum() / weight.sum()
        self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-th percentile (0..100) of values where each value counts `weight` times."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    index = min(int(np.searchsorted(cum, q / 100.0 * cum[-1])), len(values) - 1)
    return float(values[order][index])
