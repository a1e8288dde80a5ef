"""Semi-supervised GAN with an encoder (BiGAN / EGBAD, as the paper describes): an encoder
E maps traffic to a latent code, a generator G maps codes to traffic, and a discriminator D
tells real pairs (x, E(x)) from generated pairs (G(z), z). Trained on normal rows only; the
layers and the anomaly score are `networks.BiGANNet`.

GANs are unstable; `recon_weight` adds the reconstruction loss to the encoder/generator
objective (as in ALICE), which makes training converge reliably across seeds. The paper's
own settings are the `paper` profile in params.yaml.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from iot_anomaly.models.lightning import AnomalyScorer
from iot_anomaly.models.networks import BiGANNet


class BiGAN(AnomalyScorer):
    """Alternates a discriminator step and an encoder/generator step per batch."""

    network_class = BiGANNet

    def __init__(
        self,
        net: BiGANNet,
        lr_generator: float = 2e-4,
        lr_discriminator: float = 2e-4,
        recon_weight: float = 1.0,
    ) -> None:
        super().__init__(net)
        self.save_hyperparameters(ignore=["net"])
        self.automatic_optimization = False

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> None:
        x, _, weight = batch
        weight = weight / weight.sum()
        net = self.net
        opt_ge, opt_d = self.optimizers()
        z = torch.randn(len(x), net.latent_dim, device=x.device)  # fresh noise
        ones, zeros = torch.ones(len(x), device=x.device), torch.zeros(len(x), device=x.device)

        def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (
                F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
            ).sum()

        # Discriminator: real pairs (x, E(x)) against generated pairs (G(z), z).
        with torch.no_grad():
            ex, gz = net.encoder(x), net.generator(z)
        real, _ = net.discriminator(x, ex)
        fake, _ = net.discriminator(gz, z)
        loss_d = bce(real, ones) + bce(fake, zeros)
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        opt_d.step()

        # Encoder and generator: fool the discriminator (labels swapped), and reconstruct.
        ex, gz = net.encoder(x), net.generator(z)
        real, _ = net.discriminator(x, ex)
        fake, _ = net.discriminator(gz, z)
        recon = ((net.generator(ex) - x).abs().mean(dim=1) * weight).sum()
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

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        ge = list(self.net.encoder.parameters()) + list(self.net.generator.parameters())
        return [
            torch.optim.Adam(ge, lr=self.hparams.lr_generator, betas=(0.5, 0.999)),
            torch.optim.Adam(
                self.net.discriminator.parameters(),
                lr=self.hparams.lr_discriminator,
                betas=(0.5, 0.999),
            ),
        ]
