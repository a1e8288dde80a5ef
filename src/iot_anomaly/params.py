"""The parameters of params.yaml as typed, validated models: one per group, `Params` for the
whole file.

Every model forbids unknown keys, so a misspelt key or group is an error when the file is
loaded, not a default silently used later; a value out of range is an error too. The error
names the file and the dotted key, e.g. `params.yaml: train_ae.epochs: Input should be greater
than 0`. DVC tracks these values (dvc.yaml `params:`), so only settings that can change a
result belong here; how work is spread over the machine is `iot_anomaly.runtime`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from iot_anomaly import schema

DEFAULT_PARAMS = Path("params.yaml")

Seed = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]  # a share strictly between none and all
Share = Annotated[float, Field(ge=0, le=1)]
Percentile = Annotated[float, Field(gt=0, le=100)]
Widths = Annotated[list[PositiveInt], Field(min_length=1)]  # layer widths or channels
Suites = Annotated[list[Path], Field(min_length=1)]  # expectation suite files, in order
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

SplitName = Literal["paper", "dedup", "corrected"]  # where a protocol's rows come from
FeatureSet = Literal["all", "flow"]  # which features a protocol's models read
ProtocolName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Categorical = Literal["onehot", "ordinal"]
Scaler = Literal["minmax", "normalizer", "normalizer+minmax", "standard", "none"]
Weighting = Literal["count", "sqrt", "log", "none"]  # how duplicate rows weigh
Activation = Literal["tanh", "relu", "leaky_relu"]
Optimizer = Literal["sgd", "adam"]
ScoreLoss = Literal["cross_entropy", "feature_matching"]
KnnIndex = Literal["exact", "ivf", "hnsw"]
TaskRunner = Literal["process", "thread", "dask"]
# What promotion compares (binary accuracy, F1 and attack recall; 5-class macro F1; KDD cost).
Figure = Literal["accuracy", "binary_f1", "attack_recall", "macro_f1", "kdd_cost"]


class ParamsError(ValueError):
    """params.yaml cannot be read or does not validate; the message names file and keys."""


class KeyCheckError(ValueError):
    """A check across fields failed; `key` is the dotted key (below the model) to blame."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Group(BaseModel):
    """A params group: unknown keys are errors, values are read-only once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- data and preprocessing -----------------------------------------------------------------


class DataParams(Group):
    dir: Path
    train_file: Path
    test_file: Path
    confirmed_dir: Path
    iot23_dir: Path
    captures_dir: Path
    source_url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    sha256: dict[str, Sha256] = Field(min_length=1)
    download_timeout_s: PositiveFloat

    def raw_file(self, dataset: str) -> Path:
        """The raw file of a data set (`train` or `test`)."""
        files = {"train": self.train_file, "test": self.test_file}
        if dataset not in files:
            raise ValueError(f"unknown data set {dataset!r}; expected one of {sorted(files)}")
        return files[dataset]


class DataSetSuites(Group):
    train: Suites
    test: Suites
    confirmed: Suites

    def of(self, dataset: str) -> list[Path]:
        """The suites of a data set (`train`, `test` or `confirmed`)."""
        if dataset not in type(self).model_fields:
            raise ValueError(f"unknown data set {dataset!r}")
        return getattr(self, dataset)


class ValidateParams(Group):
    suites: DataSetSuites


class EncodingParams(Group):
    """One named encoding: categorical columns, scaler, log-scaled columns, clipping."""

    categorical: Categorical
    scaler: Scaler
    log1p: list[str]  # numeric columns scaled by log(1 + x) first
    clip: bool  # clip scaled values to the training range

    @field_validator("log1p")
    @classmethod
    def _numeric(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(schema.NUMERIC))
        if unknown:
            raise ValueError(f"names columns that are not numeric features: {unknown}")
        return names


class ProtocolDefinition(Group):
    """What a protocol is: the split its rows come from and the features its models read
    (`all`: the 41; `flow`: schema.FLOW_FEATURES, what every flow source measures)."""

    split: SplitName
    features: FeatureSet


class PreprocessParams(Group):
    seed: Seed
    test_size: Fraction
    protocols: list[ProtocolName] = Field(min_length=1)  # built, trained and evaluated
    definitions: dict[ProtocolName, ProtocolDefinition] = Field(min_length=1)
    encodings: dict[str, EncodingParams] = Field(min_length=1)

    @field_validator("protocols")
    @classmethod
    def _unique(cls, protocols: list[str]) -> list[str]:
        if len(set(protocols)) != len(protocols):
            raise ValueError(f"lists a protocol twice: {protocols}")
        return protocols

    @model_validator(mode="after")
    def _defined(self) -> PreprocessParams:
        undefined = [p for p in self.protocols if p not in self.definitions]
        if undefined:
            raise KeyCheckError("protocols", f"{undefined} not defined in preprocess.definitions")
        return self

    def definition(self, protocol: str) -> ProtocolDefinition:
        """A listed protocol's split and feature set; an unknown name is a clear error."""
        if protocol not in self.protocols:
            raise ValueError(f"unknown protocol {protocol!r}; expected one of {self.protocols}")
        return self.definitions[protocol]


# --- models ---------------------------------------------------------------------------------


class ModelsParams(Group):
    """Shared by every model stage."""

    seed: Seed
    seeds: list[Seed] = Field(min_length=1)
    split_seeds: list[Seed] = Field(min_length=1)
    val_fraction: Fraction


class TrainAeParams(Group):
    encoding: str
    weighting: Weighting
    hidden: Widths
    activations: list[Activation]
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    epochs: PositiveInt
    batch_size: PositiveInt
    threshold_percentile: Percentile

    @model_validator(mode="after")
    def _one_activation_per_layer(self) -> TrainAeParams:
        if len(self.activations) != len(self.hidden):
            raise KeyCheckError(
                "activations",
                f"{len(self.activations)} activations for {len(self.hidden)} hidden layers",
            )
        return self

    def network(self) -> dict[str, Any]:
        """The autoencoder's constructor arguments (saved with the model)."""
        return self.model_dump(include={"hidden", "activations", "lr", "weight_decay"})


class GanProfile(Group):
    """One named set of BiGAN settings."""

    latent_dim: PositiveInt
    gen_hidden: Widths
    gen_activation: Activation
    enc_hidden: Widths
    disc_hidden: Widths
    disc_dropout: Annotated[float, Field(ge=0, lt=1)]
    lr_generator: PositiveFloat
    lr_discriminator: PositiveFloat
    recon_weight: NonNegativeFloat
    score_weight: Share
    score_loss: ScoreLoss
    spectral_norm: bool
    epochs: PositiveInt
    batch_size: PositiveInt


class GanSettings(GanProfile):
    """The GAN stage's settings with its chosen profile resolved (what it trains with)."""

    encoding: str
    weighting: Weighting
    threshold_percentile: Percentile
    profile: str

    def network(self) -> dict[str, Any]:
        """The BiGAN's constructor arguments (saved with the model)."""
        return self.model_dump(include=set(GanProfile.model_fields) - {"epochs", "batch_size"})


class TrainGanParams(Group):
    encoding: str
    weighting: Weighting
    threshold_percentile: Percentile
    profile: str
    profiles: dict[str, GanProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _profile_exists(self) -> TrainGanParams:
        if self.profile not in self.profiles:
            raise KeyCheckError(
                "profile", f"{self.profile!r} is not one of the profiles {sorted(self.profiles)}"
            )
        return self

    @property
    def resolved(self) -> GanSettings:
        """The chosen profile's settings beside the stage's own."""
        return GanSettings(
            **self.profiles[self.profile].model_dump(),
            encoding=self.encoding,
            weighting=self.weighting,
            threshold_percentile=self.threshold_percentile,
            profile=self.profile,
        )


class TrainCnnLstmParams(Group):
    encoding: str
    weighting: Weighting
    class_balance: Share  # 0: as weighted; 1: every category weighs the same in the loss
    channels: Widths
    kernel_size: PositiveInt
    lstm_hidden: PositiveInt
    dropout: Annotated[float, Field(ge=0, lt=1)]
    optimizer: Optimizer
    lr: PositiveFloat
    momentum: Annotated[float, Field(ge=0, lt=1)]
    weight_decay: NonNegativeFloat
    epochs: PositiveInt
    batch_size: PositiveInt

    def network(self) -> dict[str, Any]:
        """The CNN+LSTM's constructor arguments (saved with the model)."""
        training = {"encoding", "weighting", "class_balance", "epochs", "batch_size"}
        return self.model_dump(exclude=training)


class TrainKnnParams(Group):
    encoding: str
    k: PositiveInt
    index: KnnIndex
    nlist: PositiveInt
    nprobe: PositiveInt
    hnsw_m: PositiveInt
    ef_construction: PositiveInt
    ef_search: PositiveInt


def _forest_arguments(forest: dict[str, Any]) -> dict[str, Any]:
    """Any RandomForestClassifier argument but the two that are set elsewhere."""
    if "random_state" in forest:
        raise ValueError("random_state comes from models.seed; remove it here")
    if "n_jobs" in forest:
        raise ValueError("n_jobs is a run-time setting (IOT_ANOMALY_THREADS); remove it here")
    return forest


#: RandomForestClassifier arguments (any of them; sklearn checks their values).
Forest = Annotated[dict[str, Any], Field(min_length=1), AfterValidator(_forest_arguments)]


class TrainRfParams(Group):
    encoding: str
    weighting: Weighting
    forest: Forest  # any sklearn RandomForestClassifier argument


class EnvelopeParams(Group):
    enabled: bool
    margin: NonNegativeFloat  # how far outside counts, as a share of the feature's range
    min_rows: PositiveInt


class EnsembleParams(Group):
    weighting: Weighting
    min_conflicts: PositiveInt
    forest: Forest
    envelope: EnvelopeParams


# --- benchmarks, evaluation, monitoring, reports, orchestration ----------------------------


class PeerAutoencoder(Group):
    hidden: Widths
    epochs: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat


class PeersParams(Group):
    """bench/peers.py: off-the-shelf peers beside our models."""

    knn_rows: PositiveInt
    autoencoder: PeerAutoencoder
    seed: Seed


class ScaleBenchParams(Group):
    """bench/scale.py: `predict` at size, in one process and on a local Dask cluster."""

    rows: PositiveInt  # connections of the generated conn.log
    seed: Seed  # the perturbation of times and addresses
    dask_workers: PositiveInt


class BenchParams(Group):
    peers: PeersParams
    scale: ScaleBenchParams


class Bound(Group):
    """A target: the figure must be at least `min`, or at most `max` (exactly one)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min and max")
        return self

    def met(self, value: float) -> bool:
        return value >= self.min if self.min is not None else value <= self.max  # type: ignore[operator]

    def __str__(self) -> str:
        return f"≥ {self.min:,g}" if self.min is not None else f"≤ {self.max:,g}"


class TargetsParams(Group):
    """What the benchmarks (bench/) print their figures against; nothing in the pipeline
    reads these. `quality` keys are paths into reports/metrics.json: protocol.model.figure."""

    quality: dict[str, Bound] = Field(min_length=1)
    predict_records_per_s: PositiveFloat
    monitor_step_s: PositiveFloat
    preprocess_s: PositiveFloat
    preprocess_memory_gib: PositiveFloat
    traffic_connections_per_s: PositiveFloat  # bench/traffic.py: features alone
    traffic_pcap_connections_per_s: PositiveFloat  # bench/traffic.py: capture to records
    scale_records_per_s: PositiveFloat  # bench/scale.py: predict on the generated conn.log
    scale_memory_gib: PositiveFloat  # bench/scale.py: peak memory of predict, any input size
    scale_memory_spread: PositiveFloat  # bench/scale.py: peak at 10M rows / peak at 805k, at most

    @field_validator("quality")
    @classmethod
    def _paths(cls, quality: dict[str, Bound]) -> dict[str, Bound]:
        from iot_anomaly.models import catalog

        for key in quality:
            _, model, *figure = key.split(".")
            if not figure:  # the protocol is checked against preprocess.definitions (Params)
                raise ValueError(f"{key}: expected protocol.model.figure")
            catalog.spec(model)
        return quality


class EvaluateParams(Group):
    permutation_rows: PositiveInt
    permutation_repeats: PositiveInt
    top_features: PositiveInt


class CrossdataParams(Group):
    """The `crossdata` stage: flow models trained on KDD Cup 99 scored on IoT-23's scenarios
    (stages/crossdata.py)."""

    prefer: Literal["csv", "conn.log"]  # the file read where a scenario has both formats


class BatchSuites(Group):
    unlabelled: Suites
    labelled: Suites

    def of(self, labelled: bool) -> list[Path]:
        return self.labelled if labelled else self.unlabelled


class MonitorParams(Group):
    inbox: Path
    batches_dir: Path
    reports_dir: Path
    workspace: Path
    project: Annotated[str, Field(min_length=1)]
    suites: BatchSuites
    max_quarantined_share: Share
    reference_rows: PositiveInt
    seed: Seed
    drift_share: Fraction
    quality_drop: Share
    quality_confidence: Fraction  # of the Wilson interval of a labelled batch's accuracy
    holdout_fraction: Fraction
    holdout_scenarios: list[str]  # IoT-23 scenarios never replayed, never trained on


ReplaySource = Literal["kdd", "iot23", "captures"]


class ReplayParams(Group):
    source: ReplaySource
    rows: PositiveInt
    every_s: NonNegativeFloat
    seed: Seed


class PromotionRule(Group):
    better: Literal["lower", "higher"]
    tolerance: NonNegativeFloat


class PromotionParams(Group):
    rules: dict[Figure, PromotionRule] = Field(min_length=1)  # on the holdout of corrected.gz
    scenario_rules: dict[Figure, PromotionRule]  # on the held-out IoT-23 scenarios
    champion_dir: Path
    decision_log: Path


class TimelineParams(Group):
    width: PositiveInt
    height: PositiveInt


class HostsParams(Group):
    """Verdicts per device (reports/hosts/, `iot-anomaly hosts`, the site's Hosts page)."""

    dir: Path
    top_ports: PositiveInt
    top_hosts: PositiveInt
    listed: PositiveInt


class ReportParams(Group):
    site_dir: Path
    screenshots_dir: Path
    max_failures: PositiveInt
    timeline: TimelineParams
    hosts: HostsParams


class DaskParams(Group):
    address: str | None = None
    n_workers: PositiveInt
    threads_per_worker: PositiveInt


class OrchestrationParams(Group):
    task_runner: TaskRunner
    max_workers: PositiveInt
    dask: DaskParams
    retries: NonNegativeInt
    retry_delay_s: NonNegativeFloat
    git_commit: bool
    runs_dir: Path  # records of the flow runs under way (monitoring.runs)


# --- the whole file -------------------------------------------------------------------------


class IngestParams(Group):
    """Connection records from captures and Zeek logs (iot_anomaly.traffic)."""

    time_window_s: PositiveFloat
    host_window: PositiveInt
    count_cap: PositiveInt
    host_count_cap: PositiveInt
    labels: dict[str, Literal[schema.CATEGORIES]] = Field(min_length=1)

    @field_validator("labels")
    @classmethod
    def _lower_case(cls, labels: dict[str, str]) -> dict[str, str]:
        upper = sorted(k for k in labels if k != k.lower())
        if upper:
            raise ValueError(f"labels are looked up in lower case; write {upper} in lower case")
        return labels


class StreamParams(Group):
    """How `predict` and `ingest` stream their input: the chunk size sets peak memory and
    never a result (stages/predict.py)."""

    chunk_rows: PositiveInt  # input rows (lines, connections) read, scored and written at once
    cache_rows: PositiveInt  # distinct feature vectors whose verdicts are kept across chunks
    partition_rows: PositiveInt  # on Dask: connections per time slab of a larger Zeek log


#: Stages whose models must see the same rows: the ensemble feeds one encoding to KNN,
#: CNN+LSTM and the forests, and the champion one encoding to both anomaly scorers.
SHARED_ENCODINGS = {"train_cnn_lstm": "train_knn", "train_rf": "train_knn", "train_gan": "train_ae"}
ENCODED = ("train_ae", "train_gan", "train_cnn_lstm", "train_knn", "train_rf")


class Params(Group):
    """Every group of params.yaml. `validate` is a BaseModel method, so that group is the
    `validation` attribute (its key in the file stays `validate`)."""

    model_config = ConfigDict(serialize_by_alias=True)

    data: DataParams
    validation: ValidateParams = Field(alias="validate")
    preprocess: PreprocessParams
    ingest: IngestParams
    stream: StreamParams
    models: ModelsParams
    train_ae: TrainAeParams
    train_gan: TrainGanParams
    train_cnn_lstm: TrainCnnLstmParams
    train_knn: TrainKnnParams
    train_rf: TrainRfParams
    ensemble: EnsembleParams
    bench: BenchParams
    targets: TargetsParams
    evaluate: EvaluateParams
    crossdata: CrossdataParams
    monitor: MonitorParams
    replay: ReplayParams
    promotion: PromotionParams
    report: ReportParams
    orchestration: OrchestrationParams

    @model_validator(mode="after")
    def _target_protocols(self) -> Params:
        for key in self.targets.quality:
            protocol = key.split(".")[0]
            if protocol not in self.preprocess.definitions:
                raise KeyCheckError(
                    f"targets.quality.{key}",
                    f"{protocol!r} is not a protocol of preprocess.definitions "
                    f"{sorted(self.preprocess.definitions)}",
                )
        return self

    @model_validator(mode="after")
    def _encodings(self) -> Params:
        known = self.preprocess.encodings
        for group in ENCODED:
            name = getattr(self, group).encoding
            if name not in known:
                raise KeyCheckError(
                    f"{group}.encoding",
                    f"{name!r} is not one of preprocess.encodings {sorted(known)}",
                )
        for group, other in SHARED_ENCODINGS.items():
            mine, theirs = getattr(self, group).encoding, getattr(self, other).encoding
            if mine != theirs:
                raise KeyCheckError(
                    f"{group}.encoding",
                    f"must be {other}.encoding ({theirs!r}), not {mine!r}: the ensemble and "
                    "the champion feed both models the same encoded rows",
                )
        return self


def _describe(err: dict[str, Any]) -> str:
    """One validation error as `dotted.key: message`."""
    loc = [str(part) for part in err["loc"] if part != "[key]"]  # a bad key of a mapping
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, KeyCheckError):
        loc.append(cause.key)
    if err["type"] == "extra_forbidden":
        message = "unknown key (misspelt, or not a parameter)"
    else:
        message = str(cause) if isinstance(cause, ValueError) else err["msg"]
    return f"{'.'.join(loc)}: {message}" if loc else message


def parse_params(data: Any, source: str | Path = "params") -> Params:
    """Validate a params mapping (as read from YAML); `source` names it in the errors."""
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping of groups, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        lines = [f"{source}: {_describe(e)}" for e in err.errors()]
        raise ParamsError("\n".join(lines)) from None


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml; a missing file, a missing or unknown group or key, or a
    bad value is a clear error here, not a KeyError later."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: parameters file not found (run from the project root)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(data, path)


def dump_params(params: Params) -> dict[str, Any]:
    """Params as plain YAML/JSON values, keyed as in params.yaml (what `parse_params` reads)."""
    return params.model_dump(mode="json")
