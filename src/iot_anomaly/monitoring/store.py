"""The champion store: promoted model versions, each a self-contained copy of what
`Champion.load` reads, and a `current` file naming the champion.

The pipeline (`dvc repro` or the training flow) rewrites `artifacts/` in place; serving and
monitoring read the champion from here instead, so a retraining that fails or loses its
comparison never touches the model in use. Switching champions is one atomic file write.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly.champion import CHAMPION_PROTOCOL, COMPONENTS, Champion
from iot_anomaly.config import Paths, champion_version_root, current_champion
from iot_anomaly.io import write_parquet, write_text
from iot_anomaly.params import MonitorParams, PromotionParams

REFERENCE = "reference.parquet"  # training rows sampled as the drift reference


@dataclass(frozen=True)
class ChampionStore:
    """Versions under `root/versions/<version>/`, laid out like a project root."""

    root: Path

    @property
    def current_file(self) -> Path:
        return self.root / "current"

    def version_root(self, version: str) -> Path:
        return champion_version_root(self.root, version)

    def current(self) -> str | None:
        """The champion's version, or None before the first promotion."""
        return current_champion(self.root)

    def paths(self, version: str | None = None) -> Paths:
        """Paths that `Champion.load` reads for a version (default: the champion)."""
        version = version or self.current()
        if version is None:
            raise FileNotFoundError(f"{self.current_file}: no champion promoted yet")
        return Paths(self.version_root(version))

    def record(self, version: str | None = None) -> dict[str, Any]:
        registry = self.paths(version).artifacts / "registry" / "champion.json"
        return json.loads(registry.read_text())

    def load(self, version: str | None = None) -> Champion:
        return Champion.load(self.paths(version))

    def reference(self, version: str | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.version_root(version or self.current() or "") / REFERENCE)

    def add(self, source: Paths, reference_rows: int, seed: int) -> str:
        """Copy the model registered in `source` into the store (once per version) with a
        sample of its training rows as drift reference; return its version."""
        registry = source.artifacts / "registry" / "champion.json"
        if not registry.is_file():
            raise FileNotFoundError(f"{registry}: no model registered; run `dvc repro` first")
        version = json.loads(registry.read_text())["version"]
        missing = [m for m in COMPONENTS if not source.model_dir(CHAMPION_PROTOCOL, m).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"{registry} names version {version} but its model files are missing "
                f"({', '.join(missing)}); run `dvc repro` first"
            )
        final = self.version_root(version)
        if final.is_dir():
            return version
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{version}."))
        try:
            target = Paths(staging)
            protocol = CHAMPION_PROTOCOL
            skip = shutil.ignore_patterns("logs", "checkpoints")
            for model in COMPONENTS:
                shutil.copytree(
                    source.model_dir(protocol, model),
                    target.model_dir(protocol, model),
                    ignore=skip,
                )
            shutil.copytree(
                source.artifacts / "preprocess" / protocol,
                target.artifacts / "preprocess" / protocol,
            )
            (target.artifacts / "registry").mkdir(parents=True)
            shutil.copy2(registry, target.artifacts / "registry" / "champion.json")
            train = pd.read_parquet(source.split(protocol, "train"))
            sample = train.sample(min(reference_rows, len(train)), random_state=seed)
            write_parquet(sample.sort_index(), staging / REFERENCE)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return version

    def promote(self, version: str) -> None:
        """Make `version` (already in the store) the champion."""
        if not self.version_root(version).is_dir():
            raise FileNotFoundError(f"{self.version_root(version)}: version not in the store")
        write_text(version + "\n", self.current_file)


def store_from_params(promotion: PromotionParams, paths: Paths) -> ChampionStore:
    """The champion store of `promotion.champion_dir`."""
    return ChampionStore(paths.root / promotion.champion_dir)


def ensure_champion(
    promotion: PromotionParams, monitor: MonitorParams, paths: Paths
) -> tuple[ChampionStore, bool]:
    """The store, with the pipeline's registered model adopted as the first champion if none
    was promoted yet (its drift reference: `monitor.reference_rows` rows drawn with
    `monitor.seed`); the flag says whether that adoption happened now."""
    store = store_from_params(promotion, paths)
    if store.current() is not None:
        return store, False
    version = store.add(paths, monitor.reference_rows, monitor.seed)
    store.promote(version)
    return store, True
