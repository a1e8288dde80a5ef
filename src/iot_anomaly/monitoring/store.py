"""The champion store: promoted model versions, each a self-contained copy of what
`Champion.load` reads, and a `current` file naming the champion.

The pipeline (`dvc repro` or the training flow) rewrites `artifacts/` in place; serving and
monitoring read the champion from here instead, so a retraining that fails or loses its
comparison never touches the model in use. Switching champions is one atomic file write.

Each version also keeps the store's own record of it (`version.json`): when it entered the
store and at which git commit, and when it was last promoted. The registry file holds no such
run-dependent fields, so that it changes only when the models, data or params do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iot_anomaly.config import Paths, champion_version_root, current_champion
from iot_anomaly.io import write_json, write_parquet, write_text
from iot_anomaly.monitoring.decisions import now
from iot_anomaly.params import MonitorParams, PromotionParams
from iot_anomaly.registry import CHAMPION_PROTOCOL, COMPONENTS, registry_file
from iot_anomaly.serving import Champion

REFERENCE = "reference.parquet"  # training rows sampled as the drift reference
VERSION_RECORD = "version.json"  # the store's record of a version: stored, commit, promoted


def git_commit(root: Path) -> str | None:
    """The commit checked out at `root`, None outside a git work tree."""
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() or None


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
        """A version's registry record (default: the champion's)."""
        return json.loads(registry_file(self.paths(version)).read_text())

    def stored(self, version: str) -> dict[str, Any]:
        """The store's record of a version: `stored_at` and `git_commit` (when and at which
        commit it entered the store) and, once promoted, `promoted_at`; empty for a version
        not in the store or stored without one."""
        path = self.version_root(version) / VERSION_RECORD
        return json.loads(path.read_text()) if path.is_file() else {}

    def load(self, version: str | None = None) -> Champion:
        return Champion.load(self.paths(version))

    def reference(self, version: str | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.version_root(version or self.current() or "") / REFERENCE)

    def add(self, source: Paths, reference_rows: int, seed: int) -> str:
        """Copy the model registered in `source` into the store (once per version) with a
        sample of its training rows as drift reference; return its version."""
        registry = registry_file(source)
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
            for model in COMPONENTS:
                shutil.copytree(
                    source.model_dir(protocol, model), target.model_dir(protocol, model)
                )
            shutil.copytree(
                source.artifacts / "preprocess" / protocol,
                target.artifacts / "preprocess" / protocol,
            )
            registry_file(target).parent.mkdir(parents=True)
            shutil.copy2(registry, registry_file(target))
            train = pd.read_parquet(source.split(protocol, "train"))
            sample = train.sample(min(reference_rows, len(train)), random_state=seed)
            write_parquet(sample.sort_index(), staging / REFERENCE)
            stored = {"version": version, "stored_at": now(), "git_commit": git_commit(source.root)}
            write_json(stored, staging / VERSION_RECORD)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return version

    def promote(self, version: str) -> None:
        """Make `version` (already in the store) the champion."""
        if not self.version_root(version).is_dir():
            raise FileNotFoundError(f"{self.version_root(version)}: version not in the store")
        stored = self.stored(version) | {"version": version, "promoted_at": now()}
        write_json(stored, self.version_root(version) / VERSION_RECORD)
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
