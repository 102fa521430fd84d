"""The checkpoint journal: durability, fingerprints, torn lines, round trips."""

import json
import os
from functools import partial

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skhpo._checkpoint import (
    Journal,
    atomic_write_bytes,
    describe_estimator,
    hash_array,
)

FP = {"estimator": "sgd", "space": {"alpha": [1, 2]}, "data": "abc"}


def test_new_journal_writes_header_and_records(tmp_path):
    path = tmp_path / "run.jsonl"
    journal = Journal(path, FP)
    assert journal.records == []
    journal.append({"model_id": 0, "score": 0.5})
    journal.append({"model_id": 1, "score": float("nan")})
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["fingerprint"] == FP
    reopened = Journal(path, FP)
    assert reopened.records[0] == {"model_id": 0, "score": 0.5}
    assert np.isnan(reopened.records[1]["score"])
    reopened.append({"model_id": 2})
    assert [r["model_id"] for r in Journal(path, FP).records] == [0, 1, 2]


def test_journal_creates_missing_directory(tmp_path):
    path = tmp_path / "a" / "b" / "run.jsonl"
    Journal(path, FP).append({"x": 1})
    assert Journal(path, FP).records == [{"x": 1}]


@pytest.mark.parametrize(
    "other, match",
    [
        ({**FP, "estimator": "mlp"}, r"\['estimator'\] is \"sgd\" in the checkpoint"),
        ({**FP, "space": {"alpha": [1, 3]}}, r"\['space'\]\['alpha'\]"),
        ({"estimator": "sgd", "space": FP["space"]}, r"\['data'\] is in the check"),
        ({**FP, "n_iter": 3}, r"\['n_iter'\] is missing from the checkpoint"),
    ],
)
def test_other_search_is_refused(tmp_path, other, match):
    path = tmp_path / "run.jsonl"
    Journal(path, FP).append({"x": 1})
    with pytest.raises(ValueError, match="belongs to another search") as info:
        Journal(path, other)
    assert info.match(match)
    assert info.match("another checkpoint path, or delete the file")
    # Refusing never modifies the file.
    assert Journal(path, FP).records == [{"x": 1}]


def test_torn_last_line_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "run.jsonl"
    journal = Journal(path, FP)
    for i in range(3):
        journal.append({"model_id": i, "params": {"alpha": 0.1 * i}})
    data = path.read_bytes()
    # Crash in the middle of writing the third record.
    path.write_bytes(data[: len(data) - 15])
    with pytest.warns(RuntimeWarning, match="partially written"):
        reopened = Journal(path, FP)
    assert [r["model_id"] for r in reopened.records] == [0, 1]
    reopened.append({"model_id": 2})
    # The torn bytes were truncated away before appending.
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert [r["model_id"] for r in Journal(path, FP).records] == [0, 1, 2]


def test_complete_record_without_newline_is_kept(tmp_path):
    path = tmp_path / "run.jsonl"
    Journal(path, FP).append({"model_id": 0})
    path.write_bytes(path.read_bytes()[:-1])
    journal = Journal(path, FP)
    journal.append({"model_id": 1})
    assert [r["model_id"] for r in Journal(path, FP).records] == [0, 1]


def test_torn_header_starts_afresh(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"fingerprint": {"estim')  # how a header starts
    with pytest.warns(RuntimeWarning, match="header .* partially written"):
        journal = Journal(path, FP)
    assert journal.records == []
    journal.append({"x": 1})
    assert Journal(path, FP).records == [{"x": 1}]


@pytest.mark.parametrize(
    "content, match",
    [
        (b'{"model_id": 0}\n', "not an skhpo checkpoint"),
        (b'{"skhpo_checkpoint": 99, "fingerprint": {}}\n', "format version 99"),
        (
            b'{"skhpo_checkpoint": 1, "fingerprint": {}}\nnot json\n{"a": 1}\n',
            "corrupted at line 2",
        ),
    ],
)
def test_unreadable_files_are_refused(tmp_path, content, match):
    path = tmp_path / "run.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        Journal(path, {})


@pytest.mark.parametrize(
    "content",
    [
        b"my notes, without a final newline",
        b'{"C": 1.0}',  # what json.dump writes
        b"\n",
        b"two\nlines",
        b'{"fingerprint": {}, "skhpo_checkpoint": 1}\nnot json',  # another search's
    ],
)
def test_a_file_that_is_not_this_searchs_checkpoint_is_left_as_it_is(tmp_path, content):
    # A one-line file used to be taken for a torn checkpoint: emptied, then
    # overwritten (or given a newline before it was refused).
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an skhpo checkpoint|another search"):
        Journal(path, FP)
    assert path.read_bytes() == content


def test_fingerprint_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match="must be a dict, got list"):
        Journal(tmp_path / "x", [1])


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_leaves |= st.floats(allow_nan=False)
numpy_scalars = st.sampled_from([np.float64(0.25), np.int64(-3), np.bool_(True)])
values = st.recursive(
    json_leaves | numpy_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(records=st.lists(st.dictionaries(st.text(max_size=5), values), max_size=4))
def test_records_round_trip(tmp_path, records):
    path = tmp_path / f"rt-{os.urandom(4).hex()}.jsonl"
    journal = Journal(path, FP)
    for record in records:
        journal.append(record)
    restored = Journal(path, FP).records
    assert restored == records
    # Types survive too (tuples stay tuples, numpy scalars keep their dtype).
    assert repr(restored) == repr(records)


def test_objects_round_trip_by_pickle(tmp_path):
    path = tmp_path / "run.jsonl"
    record = {"params": {"est": SGDClassifier(alpha=0.5)}, "shape": (2, 3)}
    Journal(path, FP).append(record)
    (restored,) = Journal(path, FP).records
    assert restored["params"]["est"].alpha == 0.5
    assert restored["shape"] == (2, 3)


def test_atomic_write(tmp_path):
    path = tmp_path / "model.pkl"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["model.pkl"]


def test_describe_estimator_is_stable_and_json_able():
    def make():
        return make_pipeline(
            StandardScaler(),
            SGDClassifier(alpha=1e-3, random_state=np.random.RandomState(0)),
        )

    first, second = describe_estimator(make()), describe_estimator(make())
    assert first == second
    assert json.loads(json.dumps(first)) == first
    other = make().set_params(sgdclassifier__alpha=1e-2)
    assert describe_estimator(other) != first
    assert first["class"] == "sklearn.pipeline.Pipeline"
    assert "0x" not in json.dumps(first)
    with_callable = SGDClassifier(loss=partial(print))
    assert "0x" not in json.dumps(describe_estimator(with_callable))


def test_hash_array():
    a = np.arange(12.0).reshape(3, 4)
    assert hash_array(a) == hash_array(a.copy())
    assert hash_array(a) != hash_array(a.T)
    assert hash_array(a) != hash_array(a.astype(np.float32))
    b = a.copy()
    b[2, 3] = -1
    assert hash_array(a) != hash_array(b)
    assert hash_array(np.array(["a", "b"], dtype=object)) == hash_array(
        np.array(["a", "b"], dtype=object)
    )
    df = pd.DataFrame(a, columns=list("abcd"))
    assert hash_array(df) != hash_array(df.rename(columns={"a": "z"}))


def test_hash_dask_collections_without_computing():
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    a = np.arange(20.0).reshape(10, 2)
    assert hash_array(da.from_array(a, chunks=5)) == hash_array(
        da.from_array(a.copy(), chunks=5)
    )
    assert hash_array(da.from_array(a, chunks=5)) != hash_array(
        da.from_array(a + 1, chunks=5)
    )
    df = dd.from_pandas(pd.DataFrame(a, columns=["x", "y"]), npartitions=2)
    assert hash_array(df) == hash_array(df)
    assert hash_array(df["x"]) != hash_array(df["y"])
