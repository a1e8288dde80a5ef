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
from torch.nn import functional as F

from iot_anomaly.models.lightning import AnomalyScorer
from iot_anomaly.models.networks import bigan_layers, bigan_score

SCORE_LOSSES = ("cross_entropy", "feature_matching")


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
        self.generator, self.encoder, self.discriminator = bigan_layers(
            n_features, latent_dim, gen_hidden, gen_activation, enc_hidden, disc_hidden,
            disc_dropout, spectral_norm,
        )  # fmt: skip

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
        hp = self.hparams
        return bigan_score(
            self.encoder, self.generator, self.discriminator, x, hp.score_loss, hp.score_weight
        )

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
