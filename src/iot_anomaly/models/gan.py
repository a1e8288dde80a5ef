"""Semi-supervised GAN with an encoder (BiGAN / EGBAD, as the paper describes): an encoder
E maps traffic to a latent code, a generator G maps codes to traffic, and a discriminator D
tells real pairs (x, E(x)) from generated pairs (G(z), z). Trained on normal rows only.

Anomaly score (EGBAD): a convex combination of the reconstruction loss |x - G(E(x))| and a
discriminator loss, either cross-entropy (how little D believes (x, E(x)) is real) or
feature matching (distance between D's features of the real and reconstructed pair).

GANs are unstable; `recon_weight` adds the reconstruction loss to the encoder/generator
objective (as in ALICE), which makes training converge reliably across seeds. The paper's
own settings are the `paper` profile in params.yaml.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from iot_anomaly.models.lightning import AnomalyScorer, mlp

SCORE_LOSSES = ("cross_entropy", "feature_matching")


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
                    spectral_norm(module)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(torch.cat([x, z], dim=1))
        return self.head(features).squeeze(1), features


class BiGAN(AnomalyScorer):
    def __init__(
        self,
        n_features: int,
        latent_dim: int = 32,
        gen_hidden: tuple[int, ...] = (64, 128),
        gen_activation: str = "tanh",
        enc_hidden: tuple[int, ...] = (128, 64),
        disc_hidden: tuple[int, ...] = (128, 128),
        disc_dropout: float = 0.2,
        lr_generator: float = 2e-4,
        lr_discriminator: float = 2e-4,
        recon_weight: float = 1.0,
        score_weight: float = 0.9,
        score_loss: str = "feature_matching",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if score_loss not in SCORE_LOSSES:
            raise ValueError(f"score_loss must be one of {SCORE_LOSSES}")
        self.save_hyperparameters()
        self.automatic_optimization = False
        gen, enc = list(gen_hidden), list(enc_hidden)
        self.generator = mlp([latent_dim, *gen, n_features], [gen_activation] * len(gen))
        self.encoder = mlp([n_features, *enc, latent_dim], ["leaky_relu"] * len(enc))
        self.discriminator = Discriminator(
            n_features, latent_dim, list(disc_hidden), disc_dropout, spectral_norm
        )

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.generator(z), z

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, _, weight = batch
        weight = weight / weight.sum()
        opt_ge, opt_d = self.optimizers()
        z = torch.randn(len(x), self.hparams.latent_dim, device=x.device)  # fresh noise
        ones, zeros = torch.ones(len(x), device=x.device), torch.zeros(len(x), device=x.device)

        def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (
                F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
            ).sum()

        # Discriminator: real pairs (x, E(x)) against generated pairs (G(z), z).
        with torch.no_grad():
            ex, gz = self.encoder(x), self.generator(z)
        real, _ = self.discriminator(x, ex)
        fake, _ = self.discriminator(gz, z)
        loss_d = bce(real, ones) + bce(fake, zeros)
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        opt_d.step()

        # Encoder and generator: fool the discriminator (labels swapped), and reconstruct.
        ex, gz = self.encoder(x), self.generator(z)
        real, _ = self.discriminator(x, ex)
        fake, _ = self.discriminator(gz, z)
        recon = ((self.generator(ex) - x).abs().mean(dim=1) * weight).sum()
        loss_ge = bce(real, zeros) + bce(fake, ones) + self.hparams.recon_weight * recon
        opt_ge.zero_grad()
        self.manual_backward(loss_ge)
        opt_ge.step()

        self.log_dict(
            {"loss_d": loss_d, "loss_ge": loss_ge, "recon": recon},
            prog_bar=True,
            on_step=False,
            on_epoch=True,
        )

    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """alpha * reconstruction loss + (1 - alpha) * discriminator loss, per row."""
        x_hat, z = self.reconstruct(x)
        recon = (x - x_hat).abs().mean(dim=1)
        logit, features = self.discriminator(x, z)
        if self.hparams.score_loss == "cross_entropy":
            disc = F.binary_cross_entropy_with_logits(
                logit, torch.ones_like(logit), reduction="none"
            )
        else:
            _, features_hat = self.discriminator(x_hat, z)
            disc = (features - features_hat).abs().mean(dim=1)
        alpha = self.hparams.score_weight
        return alpha * recon + (1 - alpha) * disc

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        ge = list(self.encoder.parameters()) + list(self.generator.parameters())
        return [
            torch.optim.Adam(ge, lr=self.hparams.lr_generator, betas=(0.5, 0.999)),
            torch.optim.Adam(
                self.discriminator.parameters(),
                lr=self.hparams.lr_discriminator,
                betas=(0.5, 0.999),
            ),
        ]
