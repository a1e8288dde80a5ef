"""The scoring flow: a folder of traffic files (or one file) scored with the champion on a
Dask cluster, one task per file or per time slab of a large Zeek log, merged into the
predictions, quarantine and ingestion summary that `iot-anomaly predict` writes for the
same input (iot_anomaly.cluster).

The cluster is the scheduler at `address`, or the one params `orchestration.dask` names (its
address, or a local cluster of its n_workers processes). Workers read and write by path, so
an existing scheduler's workers must see the project's paths. Run it from the project root:
`python -m flows.score INPUT OUTPUT [ADDRESS]`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.common import project, task_runner
from iot_anomaly import cluster
from iot_anomaly.params import OrchestrationParams
from iot_anomaly.stages.predict import Prediction

#: The per-part scorers a task may run, by name (a task's parameters stay plain values).
PART_SCORERS = {f.__name__: f for f in (cluster.score_part, cluster.score_slab)}


def dask_runner(cfg: OrchestrationParams, address: str | None) -> Any:
    """The Dask task runner of params `orchestration.dask`, at `address` when one is given."""
    dask = cfg.dask.model_copy(update={"address": address or cfg.dask.address})
    return task_runner(cfg.model_copy(update={"task_runner": "dask", "dask": dask}))


@task(name="score-part", cache_policy=NO_CACHE)
def score_part(kind: str, what: Any, part: str, root: str, params_file: str) -> Any:
    """Score one file or time slab (`kind`: a function of iot_anomaly.cluster,
    `score_part` or `score_slab`) into the part `part`, on a worker."""
    params, paths = project(root, params_file)
    return PART_SCORERS[kind](
        what,
        Path(part),
        params.promotion.champion_dir,
        paths,
        params.ingest,
        params.stream,
        params.orchestration.dask.threads_per_worker,
    )


def _within(root: Path, path: str) -> Path:
    """A path given to the flow: relative ones are relative to the project root."""
    given = Path(path)
    return given if given.is_absolute() else root / given


@flow(name="score-files", log_prints=True)
def score_files(input: str, output: str, root: str, params_file: str) -> Prediction:
    """A task per file or time slab of `input` (cluster.score_parts), then the merge; run
    with a Dask task runner."""
    params, paths = project(root, params_file)
    source, target = _within(paths.root, input), _within(paths.root, output)

    def submit(function: Any, what: Any, part: Path) -> Any:
        name = f"score-{getattr(what, 'name', None) or Path(what.file).name}-{part.stem}"
        return score_part.with_options(task_run_name=name).submit(
            function.__name__, what, str(part), str(paths.root), params_file
        )

    with cluster.parts_folder(target) as folder:
        parts = cluster.score_parts(
            source,
            folder,
            params.ingest,
            params.stream,
            submit,
            lambda fs: [f.result() for f in fs],
        )
        print(f"scored {len(parts)} part(s) of {source}")
        merged = cluster.merge_parts(source, parts, target)
    print(
        f"scored {merged.rows:,} rows ({merged.attacks:,} attacks), "
        f"{merged.quarantined:,} quarantined: {target}"
    )
    return merged


@flow(name="score-traffic", log_prints=True)
def score_traffic(
    input: str,
    output: str,
    root: str = ".",
    params_file: str = "params.yaml",
    address: str | None = None,
) -> Prediction:
    """Score `input` (relative paths: to `root`) into `output` on the Dask cluster at
    `address` or of params `orchestration.dask`; returns what the whole run did."""
    import dask

    params, _ = project(root, params_file)
    runner = dask_runner(params.orchestration, address)
    # A local cluster's workers start processes of their own (the networks' helper, a
    # capture's meters): they must not be daemonic.
    with dask.config.set({"distributed.worker.daemon": False}):
        return score_files.with_options(task_runner=runner)(input, output, root, params_file)


if __name__ == "__main__":
    score_traffic(*sys.argv[1:3], address=sys.argv[3] if len(sys.argv) > 3 else None)
