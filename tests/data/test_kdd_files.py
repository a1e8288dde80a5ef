"""Data tests on the shipped raw files: their facts, and the protocols built from them."""

import pytest

from iot_anomaly import schema
from iot_anomaly.data import splits as sp
from iot_anomaly.data.download import sha256_of
from iot_anomaly.data.preprocess import EncodingSpec, fit_preprocessor, transform
from iot_anomaly.models.envelope import ServiceEnvelope

LABEL_COUNTS = {
    "smurf": 280_790, "neptune": 107_201, "normal": 97_278, "back": 2_203, "satan": 1_589,
    "ipsweep": 1_247, "portsweep": 1_040, "warezclient": 1_020, "teardrop": 979, "pod": 264,
    "nmap": 231, "guess_passwd": 53, "buffer_overflow": 30, "land": 21, "warezmaster": 20,
    "imap": 12, "rootkit": 10, "loadmodule": 9, "ftp_write": 8, "multihop": 7, "phf": 4,
    "perl": 3, "spy": 2,
}  # fmt: skip


def test_training_file_is_the_official_one(train_path, params) -> None:
    assert sha256_of(train_path) == params.data.sha256["kddcup.data_10_percent.gz"]


def test_training_file_facts(train_frame) -> None:
    assert len(train_frame) == 494_021
    assert train_frame[schema.LABEL].value_counts().to_dict() == LABEL_COUNTS
    assert set(train_frame[schema.LABEL]) == schema.KNOWN_LABELS
    assert train_frame["service"].nunique() == 66 and "icmp" not in set(train_frame["service"])


def test_test_file_facts(test_frame) -> None:
    assert len(test_frame) == 311_029
    counts = test_frame[schema.CATEGORY].value_counts()
    assert counts["u2r"] == 228 and counts["r2l"] == 16_189  # as the 1999 contest scored it
    unseen = set(test_frame[schema.LABEL]) - schema.KNOWN_LABELS
    assert unseen == schema.UNSEEN_LABELS and len(unseen) == 17
    assert "icmp" in set(test_frame["service"])


@pytest.fixture(scope="module")
def protocols(train_frame, test_frame, params):
    cfg = params.preprocess
    return sp.build_protocols(list(sp.SPLITS), train_frame, test_frame, cfg.test_size, cfg.seed)


def test_paper_split_matches_table2_totals(protocols) -> None:
    split = protocols[0]["paper"]
    assert len(split.train) == 395_216 and len(split.test) == 98_805
    assert sum(sp.PAPER_TABLE2["train"].values()) == 395_216
    train, test = sp.category_counts(split.train), sp.category_counts(split.test)
    for category in schema.CATEGORIES:
        total = train[category] + test[category]
        # Stratified per attack name, so each category is 80/20 up to one row per name.
        names = sum(1 for c in schema.LABEL_TO_CATEGORY.values() if c == category)
        assert abs(train[category] - 0.8 * total) <= names, category
    normal_total = train["normal"] + test["normal"]
    assert len(split.train_normal) == pytest.approx(0.8 * normal_total, abs=1)


def test_dedup_protocol(protocols) -> None:
    splits, stats = protocols
    assert stats["unique_rows"] == 145_586 and stats["duplicates_dropped"] == 348_435
    split = splits["dedup"]
    assert len(split.train) + len(split.test) == 145_586
    assert not split.train.duplicated(subset=[*schema.FEATURES, schema.LABEL]).any()


def test_corrected_protocol(protocols) -> None:
    split = protocols[0]["corrected"]
    assert len(split.train) == 494_021 and len(split.test) == 311_029
    assert sp.describe(split)["unseen_attack_rows_in_test"] == 18_729


def test_unseen_service_encodes_on_the_official_test_set(protocols, params) -> None:
    split = protocols[0]["corrected"]
    for name, encoding in params.preprocess.encodings.items():
        fitted = fit_preprocessor(split.train, EncodingSpec.from_params(name, encoding))
        out = transform(fitted, split.test)
        assert out.shape[0] == 311_029
        assert not (out != out).any()  # no NaN


def test_service_envelope_on_the_official_files(protocols, params) -> None:
    """The envelope learned from the paper split's training rows leaves its held-out normal
    rows inside (almost all); learned from the whole 10% file, it puts corrected's pop_3
    password guessing outside, and few of corrected's normal rows."""
    cfg = params.ensemble.envelope
    splits = protocols[0]

    def envelope(train):
        return ServiceEnvelope.fit(train, cfg.margin, cfg.min_rows)

    paper = splits["paper"]
    normal = paper.test[paper.test[schema.CATEGORY] == schema.NORMAL]
    assert envelope(paper.train).outside(normal).mean() < 0.001

    corrected = splits["corrected"]
    outside = envelope(corrected.train).outside(corrected.test)
    test = corrected.test
    guessing = ((test[schema.LABEL] == "guess_passwd") & (test["service"] == "pop_3")).to_numpy()
    assert outside[guessing].mean() > 0.95
    assert outside[(test[schema.CATEGORY] == schema.NORMAL).to_numpy()].mean() < 0.02
