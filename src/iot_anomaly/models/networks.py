"""The networks' layers and arithmetic in plain PyTorch, without Lightning.

The Lightning modules (autoencoder.py, gan.py, cnn_lstm.py) build their layers and compute
their outputs with these functions and train them; prediction rebuilds the same layers in
the plain modules below and loads the saved weights into them, so scoring never imports
Lightning (about 2 s of start-up) and gives the same numbers.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
}


def mlp(sizes: list[int], activations: list[str], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers between consecutive sizes; layer i gets activations[i] (if any), then
    dropout. Layers past the end of `activations` stay linear."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(activations):
            layers.append(ACTIVATIONS[activations[i]]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def reconstruction_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The autoencoder's anomaly score: per-row mean squared reconstruction error."""
    return ((x_hat - x) ** 2).mean(dim=1)


class Discriminator(nn.Module):
    """D(x, z): an MLP over the concatenated pair; returns (logit, last hidden features)."""

    def __init__(
        self,
        n_features: int,
        latent_dim: int,
        hidden: list[int],
        dropout: float,
        spectral: bool = False,
    ):
        super().__init__()
        self.body = mlp([n_features + latent_dim, *hidden], ["relu"] * len(hidden), dropout)
        self.head = nn.Linear(hidden[-1], 1)
        if spectral:  # bounds D's Lipschitz constant: the usual cure for a runaway D
            for module in [*self.body, self.head]:
                if isinstance(module, nn.Linear):
                    _spectral_norm(module)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(torch.cat([x, z], dim=1))
        return self.head(features).squeeze(1), features


def bigan_layers(
    n_features: int,
    latent_dim: int,
    gen_hidden: tuple[int, ...],
    gen_activation: str,
    enc_hidden: tuple[int, ...],
    disc_hidden: tuple[int, ...],
    disc_dropout: float,
    spectral_norm: bool,
) -> tuple[nn.Sequential, nn.Sequential, Discriminator]:
    """The BiGAN's generator, encoder and discriminator, built in that order."""
    gen, enc = list(gen_hidden), list(enc_hidden)
    generator = mlp([latent_dim, *gen, n_features], [gen_activation] * len(gen))
    encoder = mlp([n_features, *enc, latent_dim], ["leaky_relu"] * len(enc))
    discriminator = Discriminator(
        n_features, latent_dim, list(disc_hidden), disc_dropout, spectral_norm
    )
    return generator, encoder, discriminator


def bigan_score(
    encoder: nn.Module,
    generator: nn.Module,
    discriminator: Discriminator,
    x: torch.Tensor,
    score_loss: str,
    score_weight: float,
) -> torch.Tensor:
    """alpha * reconstruction loss + (1 - alpha) * discriminator loss, per row (EGBAD)."""
    z = encoder(x)
    x_hat = generator(z)
    recon = (x - x_hat).abs().mean(dim=1)
    logit, features = discriminator(x, z)
    if score_loss == "cross_entropy":
        disc = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit), reduction="none")
    else:
        _, features_hat = discriminator(x_hat, z)
        disc = (features - features_hat).abs().mean(dim=1)
    return score_weight * recon + (1 - score_weight) * disc


def cnn_lstm_layers(
    n_classes: int, channels: tuple[int, ...], kernel_size: int, lstm_hidden: int, dropout: float
) -> tuple[nn.Sequential, nn.LSTM, nn.Sequential]:
    """Conv1d blocks (conv, ReLU, max-pool), the LSTM over their output, the dense head."""
    convs: list[nn.Module] = []
    n_in = 1
    for n_out in channels:
        convs += [
            nn.Conv1d(n_in, n_out, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.MaxPool1d(2),
        ]
        n_in = n_out
    conv = nn.Sequential(*convs)
    lstm = nn.LSTM(n_in, lstm_hidden, batch_first=True)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(lstm_hidden, n_classes))
    return conv, lstm, head


def cnn_lstm_logits(
    conv: nn.Module, lstm: nn.LSTM, head: nn.Module, x: torch.Tensor
) -> torch.Tensor:
    """Class logits for a batch of encoded rows (batch, n_features)."""
    seq = conv(x.unsqueeze(1)).transpose(1, 2)  # (batch, steps, channels)
    _, (hidden, _) = lstm(seq)
    return head(hidden[-1])


# --- the plain modules that prediction loads ------------------------------------------------


class AutoencoderNet(nn.Module):
    """The autoencoder's layers; `score` is the reconstruction error."""

    def __init__(
        self,
        n_features: int,
        hidden: tuple[int, ...] = (64, 32, 16),
        activations: tuple[str, ...] = ("tanh", "relu", "relu"),
        **_: Any,
    ) -> None:
        super().__init__()
        hidden, activations = list(hidden), list(activations)
        self.encoder = mlp([n_features, *hidden], activations)
        self.decoder = mlp([*hidden[::-1], n_features], activations[::-1][1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_error(self.decoder(self.encoder(x)), x)


class BiGANNet(nn.Module):
    """The BiGAN's encoder, generator and discriminator; `forward` is the anomaly score."""

    def __init__(
        self,
        n_features: int,
        latent_dim: int = 32,
        gen_hidden: tuple[int, ...] = (64, 128),
        gen_activation: str = "tanh",
        enc_hidden: tuple[int, ...] = (128, 64),
        disc_hidden: tuple[int, ...] = (128, 128),
        disc_dropout: float = 0.2,
        score_weight: float = 0.9,
        score_loss: str = "feature_matching",
        spectral_norm: bool = False,
        **_: Any,
    ) -> None:
        super().__init__()
        self.generator, self.encoder, self.discriminator = bigan_layers(
            n_features, latent_dim, gen_hidden, gen_activation, enc_hidden, disc_hidden,
            disc_dropout, spectral_norm,
        )  # fmt: skip
        self.score_loss, self.score_weight = score_loss, score_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bigan_score(
            self.encoder, self.generator, self.discriminator, x, self.score_loss, self.score_weight
        )


class CnnLstmNet(nn.Module):
    """The CNN+LSTM's layers; `forward` gives class probabilities."""

    def __init__(
        self,
        n_features: int,
        n_classes: int = 5,
        channels: tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        lstm_hidden: int = 64,
        dropout: float = 0.2,
        **_: Any,
    ) -> None:
        super().__init__()
        self.conv, self.lstm, self.head = cnn_lstm_layers(
            n_classes, channels, kernel_size, lstm_hidden, dropout
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(cnn_lstm_logits(self.conv, self.lstm, self.head, x), dim=1)


NETWORKS: dict[str, type[nn.Module]] = {
    "ae": AutoencoderNet,
    "gan": BiGANNet,
    "cnn_lstm": CnnLstmNet,
}


def load_network(name: str, path: Path) -> nn.Module:
    """Rebuild a saved network (`save_module`'s file: hyperparameters and weights) as its
    plain module, in eval mode. Training-only hyperparameters (optimiser, learning rates)
    are ignored."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = NETWORKS[name](**saved["hparams"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def run_batched(model: nn.Module, X: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's output for every row of X, in near-equal batches of at most `batch_size`
    rows, without autograd.

    Equal batches matter: a batch of 1 to 3 rows takes another matrix kernel whose float
    rounding differs in the last bits; with equal batches none is that small (unless X is).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_batches = max(1, -(-len(X) // batch_size))
    with torch.inference_mode():
        out = [model(torch.from_numpy(part)).numpy() for part in np.array_split(X, n_batches)]
    return np.concatenate(out)
