"""Append-only journal of finished work, so that a search can be resumed.

A :class:`Journal` is a JSON-lines file. Its first line is a header holding a
format version and a *fingerprint* of the search (estimator, space, data, ...);
every other line is one record (a finished trial, a score). Each record is
written with a single ``write`` and ``os.fsync``-ed before :meth:`Journal.append`
returns, so a crash loses at most the record being written. A torn last line
(the crash happened mid-write) is dropped with a warning when the journal is
opened again.

Values that JSON cannot represent exactly (tuples, numpy scalars, arbitrary
objects such as estimators used as parameters) are stored with a small tagged
encoding, so a record read back compares equal to the record appended.
"""

import base64
import hashlib
import json
import os
import pickle
import warnings

import numpy as np

FORMAT_VERSION = 1
_HEADER_KEY = "skhpo_checkpoint"
#: How a header line starts (keys sorted): a file holding only a torn line that
#: starts so is a checkpoint whose header was being written.
_TORN_HEADER = b'{"fingerprint": '


def _encode(value):
    """Encode ``value`` into plain JSON types, tagging what JSON would alter."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"__numpy__": value.dtype.str, "value": value.item()}
    if type(value) is list:
        return [_encode(v) for v in value]
    if type(value) is tuple:
        return {"__tuple__": [_encode(v) for v in value]}
    if type(value) is dict and all(
        isinstance(k, str) and not k.startswith("__") for k in value
    ):
        return {k: _encode(v) for k, v in value.items()}
    payload = base64.b64encode(pickle.dumps(value, protocol=4)).decode("ascii")
    return {"__pickle__": payload}


def _decode(value):
    """Invert :func:`_encode`."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__numpy__" in value:
        return np.dtype(value["__numpy__"]).type(value["value"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__pickle__" in value:
        return pickle.loads(base64.b64decode(value["__pickle__"]))
    return {k: _decode(v) for k, v in value.items()}


def _dumps(obj):
    return json.dumps(obj, sort_keys=True, allow_nan=True)


def _first_difference(expected, found, path="fingerprint"):
    """Return a description of the first place where two JSON values differ."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            if key not in found:
                return f"{path}[{key!r}] is missing from the checkpoint"
            if key not in expected:
                return f"{path}[{key!r}] is in the checkpoint but not in this search"
            diff = _first_difference(expected[key], found[key], f"{path}[{key!r}]")
            if diff is not None:
                return diff
        return None
    if _dumps(expected) != _dumps(found):  # as JSON text: NaN equals NaN
        return (
            f"{path} is {_short(found)} in the checkpoint but {_short(expected)} here"
        )
    return None


def _short(value, limit=120):
    text = _dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Journal:
    """Append-only JSON-lines journal of the finished work of one search.

    Parameters
    ----------
    path : str or os.PathLike
        File of the journal. Created with a header line when it does not exist;
        read back when it does.
    fingerprint : dict
        JSON-able description of the search (estimator, space, data, ...). A
        journal is only reopened by a search with the same fingerprint; see
        :func:`describe_estimator` and :func:`hash_array` to build one.

    Attributes
    ----------
    path : str
        The journal's file.
    fingerprint : dict
        The fingerprint, as stored in the header.
    records : list of dict
        The records restored from the file followed by those appended since, in
        order.

    Raises
    ------
    ValueError
        If the file belongs to another search (different fingerprint), was
        written by another format version, or is corrupted before its last line.
    """

    def __init__(self, path, fingerprint):
        if not isinstance(fingerprint, dict):
            raise TypeError(
                "The fingerprint of a checkpoint must be a dict, got "
                f"{type(fingerprint).__name__}."
            )
        self.path = os.fspath(path)
        self.fingerprint = json.loads(_dumps(fingerprint))
        self.records = []
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self._read()
        else:
            self._create()

    def _create(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        header = {_HEADER_KEY: FORMAT_VERSION, "fingerprint": self.fingerprint}
        with open(self.path, "wb") as f:
            f.write((_dumps(header) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        _fsync_directory(directory)

    def _read(self):
        with open(self.path, "rb") as f:
            data = f.read()
        complete, _, torn = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        if torn:
            lines.append(torn)
        # The header first, before anything is changed: a file that is not
        # this search's checkpoint is refused as it is.
        try:
            header = json.loads(lines[0] if lines else b"")
        except ValueError:
            if lines == [torn] and _TORN_HEADER.startswith(torn[: len(_TORN_HEADER)]):
                # Only a torn header: nothing was ever recorded.
                warnings.warn(
                    f"The header of the checkpoint {self.path!r} was only "
                    "partially written (the process stopped while writing it); "
                    "the checkpoint starts afresh.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._create()
                return
            header = None
        self._check_header(header)
        parsed = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                parsed.append(json.loads(line))
            except ValueError:
                if number < len(lines) or not torn:
                    raise ValueError(
                        f"The checkpoint {self.path!r} is corrupted at line "
                        f"{number}: it is not valid JSON. Delete the file to start "
                        "the search afresh, or pass another checkpoint path."
                    ) from None
                warnings.warn(
                    f"The last line of the checkpoint {self.path!r} was only "
                    "partially written (the process stopped while writing it); "
                    "it is dropped and that record will be recomputed.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                with open(self.path, "r+b") as f:
                    f.truncate(len(complete) + 1)
                    f.flush()
                    os.fsync(f.fileno())
                torn = b""
        if torn:
            # A complete record whose newline was not written: terminate it.
            with open(self.path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
        self.records = [_decode(record) for record in parsed]

    def _check_header(self, header):
        if not isinstance(header, dict) or _HEADER_KEY not in header:
            raise ValueError(
                f"The file {self.path!r} is not an skhpo checkpoint (its first line "
                "has no checkpoint header). Pass another checkpoint path, or delete "
                "the file if it may be overwritten."
            )
        if header[_HEADER_KEY] != FORMAT_VERSION:
            raise ValueError(
                f"The checkpoint {self.path!r} was written in format version "
                f"{header[_HEADER_KEY]}, this version of skhpo reads version "
                f"{FORMAT_VERSION}. Delete the file to start the search afresh, or "
                "pass another checkpoint path."
            )
        diff = _first_difference(self.fingerprint, header.get("fingerprint"))
        if diff is not None:
            raise ValueError(
                f"The checkpoint {self.path!r} belongs to another search: {diff}. "
                "A checkpoint only resumes the search that wrote it (same "
                "estimator, parameter space, data and settings). Pass another "
                "checkpoint path, or delete the file to start this search afresh."
            )

    def append(self, record):
        """Append one record, durably.

        Parameters
        ----------
        record : dict
            The record. Values are encoded so that the record read back from
            the file compares equal to ``record`` (tuples, numpy scalars and
            picklable objects included).
        """
        line = json.dumps(_encode(record), allow_nan=True) + "\n"
        with open(self.path, "ab") as f:
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)


def _fsync_directory(directory):
    """Make a file creation or rename in ``directory`` durable (POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Readers see either the old content or ``data``, never a
        partial write.
    data : bytes
        Content.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_directory(os.path.dirname(os.path.abspath(path)))


def _qualname(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def describe_value(value):
    """Stable, JSON-able description of a parameter value.

    Estimators are described recursively, arrays by their hash, functions and
    classes by their import path, and objects whose ``repr`` depends on the
    memory address (random states, ...) by their class, so the description is
    the same in every process.

    Parameters
    ----------
    value : object
        The value.

    Returns
    -------
    description : JSON-able object
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return {"callable": _qualname(value)}
    if hasattr(value, "get_params") and not isinstance(value, type):
        return describe_estimator(value)
    if isinstance(value, dict):
        return {str(k): describe_value(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, (list, tuple)):
        return [describe_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array": hash_array(value)}
    if isinstance(value, np.random.RandomState | np.random.Generator):
        return {"random_state": _qualname(type(value))}
    if hasattr(value, "dist") and hasattr(value, "kwds"):  # frozen scipy.stats
        return {
            "distribution": getattr(value.dist, "name", _qualname(type(value.dist))),
            "args": describe_value(list(value.args)),
            "kwds": describe_value(dict(value.kwds)),
        }
    text = repr(value)
    if " at 0x" in text:
        return {"object": _qualname(type(value))}
    return text


def describe_estimator(estimator):
    """Stable, JSON-able description of an estimator and its parameters.

    Parameters
    ----------
    estimator : estimator object
        Anything with ``get_params``.

    Returns
    -------
    description : dict
        ``{"class": "<module>.<name>", "params": {...}}``, nested estimators
        described recursively.
    """
    params = estimator.get_params(deep=False)
    return {
        "class": _qualname(type(estimator)),
        "params": {k: describe_value(params[k]) for k in sorted(params)},
    }


def hash_array(a):
    """Content hash of array-like data, for fingerprints.

    Parameters
    ----------
    a : array-like, dask array or dask DataFrame
        In-memory data is hashed by content (dtype, shape and bytes); dask
        collections by their deterministic graph name (dask derives it from the
        content of wrapped in-memory arrays), so nothing is computed.

    Returns
    -------
    digest : str or None
        Hexadecimal SHA-256 digest; None for ``a=None``.
    """
    if a is None:
        return None
    h = hashlib.sha256()
    name = getattr(a, "_name", None) if hasattr(a, "dask") else None
    if name is not None:
        h.update(f"dask:{type(a).__name__}:{name}".encode())
        return h.hexdigest()
    if hasattr(a, "to_numpy") and hasattr(a, "columns"):
        h.update(_dumps([str(c) for c in a.columns]).encode())
    arr = np.asarray(a.to_numpy() if hasattr(a, "to_numpy") else a)
    h.update(f"{arr.dtype.str}:{arr.shape}".encode())
    if arr.dtype.kind == "O":
        h.update(pickle.dumps(arr.tolist(), protocol=4))
    else:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


class ModelCheckpoint:
    """A :class:`Journal` of score records plus the latest state of each model.

    Used by the adaptive searches. Records are journaled with the index of the
    run they belong to (a Hyperband bracket is a run). The state of a model
    (whatever object the engine passes, pickled) is written atomically to the
    sidecar directory ``<path>.models/`` *before* its score record is appended
    to the journal, as ``run<r>-model<m>-calls<c>.pkl``; the file of the
    previous state is deleted after. So every journaled record's state is on
    disk until a newer record of the same model is journaled, whatever the
    moment of a crash.

    Parameters
    ----------
    path : str or os.PathLike
        The journal; the sidecar directory is ``<path>.models``.
    fingerprint : dict
        See :class:`Journal`.
    """

    def __init__(self, path, fingerprint):
        self.journal = Journal(path, fingerprint)
        self.models_dir = self.journal.path + ".models"
        os.makedirs(self.models_dir, exist_ok=True)
        self._files = {}  # (run, model_id) -> current state file

    def _file(self, run, model_id, calls):
        name = f"run{run}-model{model_id}-calls{calls}.pkl"
        return os.path.join(self.models_dir, name)

    def records(self, run):
        """The journaled score records of one run, in order (without ``run``)."""
        out = []
        for record in self.journal.records:
            if record.get("run") == run:
                record = dict(record)
                del record["run"]
                out.append(record)
        return out

    def max_elapsed(self):
        """Largest ``elapsed_wall_time`` journaled (0 for a new journal)."""
        times = [r.get("elapsed_wall_time", 0.0) for r in self.journal.records]
        return max(times, default=0.0)

    def load_state(self, run, model_id, calls):
        """The state saved with the record of ``calls`` calls, or None if absent."""
        path = self._file(run, model_id, calls)
        try:
            with open(path, "rb") as f:
                state = pickle.load(f)
        except FileNotFoundError:
            return None
        self._files[run, model_id] = path
        return state

    def save(self, run, record, state):
        """Save ``state`` (atomically), then journal ``record`` (durably)."""
        model_id = record["model_id"]
        path = self._file(run, model_id, record["partial_fit_calls"])
        atomic_write_bytes(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        self.journal.append({"run": run, **record})
        previous = self._files.get((run, model_id))
        if previous is not None and previous != path:
            _remove(previous)
        self._files[run, model_id] = path

    def drop(self, run, model_ids):
        """Delete the saved states of models the search stopped."""
        for model_id in model_ids:
            path = self._files.pop((run, model_id), None)
            if path is not None:
                _remove(path)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
