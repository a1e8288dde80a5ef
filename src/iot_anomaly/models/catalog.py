"""The model table: every model the pipeline trains, in one place.

Stage names, prediction files, metrics, the registry and the review site all take their
model names and order from here; `dvc.yaml` has one stage per entry (`stage`), and a test
checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["scorer", "classifier"]


@dataclass(frozen=True)
class ModelSpec:
    """One model of the pipeline.

    `kind`: a scorer is semi-supervised (learns normal rows, outputs an anomaly score and a
    binary verdict); a classifier names one of the five categories. `encoding_group` is the
    params group whose `encoding` the model's input uses. `inputs` are the models whose
    outputs it learns from; `network` marks the PyTorch networks (trained with Lightning).
    """

    name: str
    title: str
    kind: Kind
    stage: str
    encoding_group: str
    inputs: tuple[str, ...] = ()
    network: bool = False


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("ensemble", "Ensemble (KNN → CNN+LSTM → RF)", "classifier", "ensemble",
              "train_knn", inputs=("knn", "cnn_lstm", "rf")),
    ModelSpec("knn", "KNN", "classifier", "train_knn", "train_knn"),
    ModelSpec("cnn_lstm", "CNN+LSTM", "classifier", "train_cnn_lstm", "train_cnn_lstm",
              network=True),
    ModelSpec("rf", "Random Forest", "classifier", "train_rf", "train_rf"),
    ModelSpec("ae", "Autoencoder", "scorer", "train_ae", "train_ae", network=True),
    ModelSpec("gan", "GAN (BiGAN)", "scorer", "train_gan", "train_gan", network=True),
)  # fmt: skip
"""In the order reports list them: the ensemble first, then its layers, then the scorers."""

BY_NAME: dict[str, ModelSpec] = {m.name: m for m in MODELS}
NAMES: tuple[str, ...] = tuple(m.name for m in MODELS)
SCORERS: tuple[str, ...] = tuple(m.name for m in MODELS if m.kind == "scorer")
CLASSIFIERS: tuple[str, ...] = tuple(m.name for m in MODELS if m.kind == "classifier")
NETWORKS: tuple[str, ...] = tuple(m.name for m in MODELS if m.network)
TRAINING_ORDER: tuple[str, ...] = tuple(
    sorted(NAMES, key=lambda name: len(BY_NAME[name].inputs) > 0)
)
"""Models that learn from data alone first, then those that learn from their outputs."""


def spec(name: str) -> ModelSpec:
    """The table's entry for `name`; an unknown name is a clear error."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(NAMES)}") from None
