"""The three networks (autoencoder, BiGAN, CNN+LSTM) as plain PyTorch modules, defined once.

Training wraps each in a LightningModule (autoencoder.py, gan.py, cnn_lstm.py) that holds it
as `net`; what is saved is the network alone (class name, constructor arguments, weights),
and prediction loads it from here without importing Lightning (about 2 s of start-up), so
training, validation and prediction run the same layers and give the same numbers.
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

from iot_anomaly import schema

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
}
SCORE_LOSSES = ("cross_entropy", "feature_matching")


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


class Network(nn.Module):
    """A network that can be saved and rebuilt: `args` are its constructor's arguments.
    `predict` gives what scoring reads: anomaly scores (higher = more anomalous) or class
    probabilities."""

    def __init__(self, **args: Any) -> None:
        super().__init__()
        self.args = args

    def predict(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define predict")


class AutoencoderNet(Network):
    """Encoder n → h1 → h2 → h3 and the mirrored decoder (linear output); `forward` is the
    reconstruction, `predict` the reconstruction error."""

    def __init__(
        self,
        n_features: int,
        hidden: list[int] | tuple[int, ...] = (64, 32, 16),
        activations: list[str] | tuple[str, ...] = ("tanh", "relu", "relu"),
    ) -> None:
        hidden, activations = list(hidden), list(activations)
        super().__init__(n_features=n_features, hidden=hidden, activations=activations)
        self.encoder = mlp([n_features, *hidden], activations)
        self.decoder = mlp([*hidden[::-1], n_features], activations[::-1][1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_error(self(x), x)


class Discriminator(nn.Module):
    """D(x, z): an MLP over the concatenated pair; returns (logit, last hidden features)."""

    def __init__(
        self, n_features: int, latent_dim: int, hidden: list[int], dropout: float, spectral: bool
    ) -> None:
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


class BiGANNet(Network):
    """The BiGAN's generator G (latent → traffic), encoder E (traffic → latent) and
    discriminator D (pairs), built in that order. `predict` is the EGBAD anomaly score:
    score_weight * |x - G(E(x))| + (1 - score_weight) * a discriminator loss, either
    cross-entropy (how little D believes (x, E(x)) is real) or feature matching (distance
    between D's features of the real and the reconstructed pair)."""

    def __init__(
        self,
        n_features: int,
        latent_dim: int = 32,
        gen_hidden: list[int] | tuple[int, ...] = (64, 128),
        gen_activation: str = "tanh",
        enc_hidden: list[int] | tuple[int, ...] = (128, 64),
        disc_hidden: list[int] | tuple[int, ...] = (128, 128),
        disc_dropout: float = 0.2,
        score_weight: float = 0.9,
        score_loss: str = "feature_matching",
        spectral_norm: bool = False,
    ) -> None:
        if score_loss not in SCORE_LOSSES:
            raise ValueError(f"score_loss must be one of {SCORE_LOSSES}")
        gen, enc, disc = list(gen_hidden), list(enc_hidden), list(disc_hidden)
        super().__init__(
            n_features=n_features, latent_dim=latent_dim, gen_hidden=gen,
            gen_activation=gen_activation, enc_hidden=enc, disc_hidden=disc,
            disc_dropout=disc_dropout, score_weight=score_weight, score_loss=score_loss,
            spectral_norm=spectral_norm,
        )  # fmt: skip
        self.latent_dim = latent_dim
        self.score_weight, self.score_loss = score_weight, score_loss
        self.generator = mlp([latent_dim, *gen, n_features], [gen_activation] * len(gen))
        self.encoder = mlp([n_features, *enc, latent_dim], ["leaky_relu"] * len(enc))
        self.discriminator = Discriminator(
            n_features, latent_dim, disc, disc_dropout, spectral_norm
        )

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        x_hat = self.generator(z)
        recon = (x - x_hat).abs().mean(dim=1)
        logit, features = self.discriminator(x, z)
        if self.score_loss == "cross_entropy":
            target = torch.ones_like(logit)
            disc = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
        else:
            _, features_hat = self.discriminator(x_hat, z)
            disc = (features - features_hat).abs().mean(dim=1)
        return self.score_weight * recon + (1 - self.score_weight) * disc


class CnnLstmNet(Network):
    """Conv1d blocks (conv, ReLU, max-pool) read the encoded features as a sequence, an LSTM
    runs over their output, a dense head gives the categories. `forward` gives the class
    logits, `predict` the class probabilities."""

    def __init__(
        self,
        n_features: int,
        n_classes: int = len(schema.CATEGORIES),
        channels: list[int] | tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        lstm_hidden: int = 64,
        dropout: float = 0.2,
    ) -> None:
        channels = list(channels)
        super().__init__(
            n_features=n_features, n_classes=n_classes, channels=channels,
            kernel_size=kernel_size, lstm_hidden=lstm_hidden, dropout=dropout,
        )  # fmt: skip
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of encoded rows (batch, n_features)."""
        seq = self.conv(x.unsqueeze(1)).transpose(1, 2)  # (batch, steps, channels)
        _, (hidden, _) = self.lstm(seq)
        return self.head(hidden[-1])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self(x), dim=1)


NETWORKS: dict[str, type[Network]] = {
    cls.__name__: cls for cls in (AutoencoderNet, BiGANNet, CnnLstmNet)
}


def save_network(net: Network, path: Path) -> Path:
    """Save the network's class name, constructor arguments and weights. The same weights
    and arguments give the same bytes (torch's zip archive carries no dates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"network": type(net).__name__, "args": net.args, "state_dict": net.state_dict()}
    torch.save(state, path)
    return path


def load_network(path: Path) -> Network:
    """Rebuild a saved network (`save_network`'s file) in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = NETWORKS[saved["network"]](**saved["args"])
    net.load_state_dict(saved["state_dict"])
    return net.eval()


def run_batched(net: Network, X: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """The network's `predict` for every row of X, in near-equal batches of at most
    `batch_size` rows, without autograd.

    Equal batches matter: a batch of 1 to 3 rows takes another matrix kernel whose float
    rounding differs in the last bits; with equal batches none is that small (unless X is).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n_batches = max(1, -(-len(X) // batch_size))
    with torch.inference_mode():
        out = [net.predict(torch.from_numpy(part)).numpy() for part in np.array_split(X, n_batches)]
    return np.concatenate(out)
