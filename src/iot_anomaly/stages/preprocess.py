"""Stage `preprocess`: build each protocol's split and fit every encoding on its training
rows, over the protocol's feature set; report row counts beside the paper's Table 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from iot_anomaly.config import CONFIRMED, Paths
from iot_anomaly.data import splits as sp
from iot_anomaly.data.preprocess import (
    EncodingSpec,
    feature_columns,
    fit_preprocessor,
    save_preprocessor,
)
from iot_anomaly.io import write_json, write_parquet
from iot_anomaly.params import Params, PreprocessParams

PARTS = ("train", "test", "train_normal")


def table2_comparison(split: sp.Split) -> list[dict[str, Any]]:
    """Our `paper` split's rows per category beside the paper's Table 2."""
    ours = {"train": sp.category_counts(split.train), "test": sp.category_counts(split.test)}
    return [
        {
            "category": category,
            "paper_train": sp.PAPER_TABLE2["train"][category],
            "ours_train": ours["train"][category],
            "paper_test": sp.PAPER_TABLE2["test"][category],
            "ours_test": ours["test"][category],
        }
        for category in sp.PAPER_TABLE2["train"]
    ]


def run(
    params: Params, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """The `preprocess` stage: `build` with its params group."""
    return build(params.preprocess, paths, progress)


def build(
    cfg: PreprocessParams, paths: Paths, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Write every protocol's split parts and fitted preprocessors; return the summary."""
    specs = [EncodingSpec.from_params(name, e) for name, e in cfg.encodings.items()]
    train_file = pd.read_parquet(paths.clean("train"))
    test_file = pd.read_parquet(paths.clean("test"))
    confirmed_path = paths.clean(CONFIRMED)
    confirmed = pd.read_parquet(confirmed_path) if confirmed_path.is_file() else None
    progress("building splits")
    definitions = {name: cfg.definition(name) for name in cfg.protocols}
    built, dedup_stats = sp.build_protocols(
        {name: d.split for name, d in definitions.items()},
        train_file, test_file, cfg.test_size, cfg.seed, confirmed,
        # The confirmed rows train the served champion only; a set of params without its
        # protocol (a study of one protocol, a test) builds the others as they are.
        sp.CHAMPION_PROTOCOL if sp.CHAMPION_PROTOCOL in definitions else None,
    )  # fmt: skip
    summary: dict[str, Any] = {"protocols": {}}
    for name, split in built.items():
        progress(f"{name}: writing split")
        for part in PARTS:
            write_parquet(getattr(split, part), paths.split(name, part))
        features = feature_columns(definitions[name].features)
        for spec in specs:
            progress(f"{name}: fitting {spec.name} encoding")
            save_preprocessor(
                fit_preprocessor(split.train, spec, features), paths.preprocessor(name, spec.name)
            )
        summary["protocols"][name] = sp.describe(split)
    if confirmed is not None:
        summary["confirmed_rows"] = len(confirmed)
    if dedup_stats is not None:
        summary["dedup"] = dedup_stats
    if "paper" in built:
        summary["paper_table2"] = table2_comparison(built["paper"])
    write_json(summary, paths.splits_report)
    return summary
