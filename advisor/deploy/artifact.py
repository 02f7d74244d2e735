"""The deployable artifact: one zip file, verified before anything in it is read, and holding no pickle.

Contents (every file's SHA-256 is in `manifest.json`):
- the model, stored without pickle (see `_modelfile`): `model.json` (the fitted preprocessing
  and the model as a tree of plain values naming only allow-listed classes), `model.npz` (the
  arrays: weights, tree nodes, scales, packed codes, read with `allow_pickle=False`) and
  `lightgbm-<n>.txt` (boosters in LightGBM's text format). Torch networks are stored in their
  codec's form (fp32, fp16, int8 codes, packed bits, compressed). The very bytes the advisor
  timed.
- `preprocessing.json`: the fitted preprocessing in plain numbers, for a runtime other than Python.
- `schema.json`: the input columns with their roles, types, categories seen in training and
  numeric medians; the target, task and classes.
- `metrics.json`: the candidate's measurements, each with its method; the run's data summary,
  hardware and deployment target.
- `versions.json`: Python and library versions it was built with.
- `MODEL_CARD.md`: data, task, metrics, intended use and limits, in plain words.

A binary predictor applies a decision threshold chosen on the validation split (see
`_threshold`): `metrics.json`, the model card and `preprocessing.json` state it as a `decision`
rule, so a runtime that only has the probabilities (ONNX) can apply it too.

`load_artifact` checks the manifest's digests (and, when `ADVISOR_ARTIFACT_KEY` is set, an
HMAC over the manifest) before it reads the model: a changed byte is refused with one sentence.
A digest catches damage, not an author: what makes a hostile artifact harmless is that loading
creates only allow-listed classes from plain values. Artifacts written before format 2
(`predictor.joblib`, a pickle) and plug-in models that can only be pickled load only with
`trust=True`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advisor.data.encoder import MISSING, CategoricalBlock
from advisor.deploy.describe import decision_rule, input_schema, model_card, preprocessing_spec, versions
from advisor.deploy.fast import is_missing
from advisor.deploy.modelfile import is_model_member, load_model_files, model_files
from advisor.deploy.predictor import Predictor, not_a_number
from advisor.errors import AdvisorError, ArtifactError, InputSchemaError
from advisor.files import cannot_write, disk_problem
from advisor.measure.hardware import megabytes_from_env

FORMAT = "advisor-artifact"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: the model pickled by joblib, loaded only with trust=True
KEY_ENV = "ADVISOR_ARTIFACT_KEY"
# An artifact's files are read through a cap on their expanded size, so a small zip that expands
# to gigabytes (a decompression bomb) is refused before it fills memory.
MAX_EXPANDED_ENV = "ADVISOR_MAX_ARTIFACT_MB"
DEFAULT_MAX_EXPANDED_MB = 2048
MANIFEST_MAX_BYTES = 1_000_000


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _signature(manifest_bytes: bytes) -> str | None:
    key = os.environ.get(KEY_ENV)
    return hmac.new(key.encode(), manifest_bytes, hashlib.sha256).hexdigest() if key else None


def write_artifact(
    path: str | Path,
    model: Mapping[str, bytes],
    predictor: Predictor,
    metrics: Mapping[str, Any],
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Write the zip with the model's members (`modelfile.model_files`) atomically: it is written
    under a temporary name and renamed, so a partial file never replaces a good one, and the
    temporary file is removed when the write fails; a full disk or a folder that cannot be written
    is one sentence naming the path (`CannotWrite`)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    files = {
        **dict(model),
        "preprocessing.json": json.dumps(preprocessing_spec(predictor), indent=2).encode(),
        "schema.json": json.dumps(input_schema(predictor), indent=2).encode(),
        "metrics.json": json.dumps(dict(metrics, decision=decision_rule(predictor)), indent=2, default=str).encode(),
        "versions.json": json.dumps(versions(), indent=2).encode(),
        "MODEL_CARD.md": model_card(predictor, metrics).encode(),
        **dict(extra or {}),
    }
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": time.time(),
        "key": predictor.key,
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", manifest_bytes)
            signature = _signature(manifest_bytes)
            if signature:
                archive.writestr("manifest.hmac", signature)
            for name, data in files.items():
                archive.writestr(name, data)
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and disk_problem(exc) is not None:
            raise cannot_write(path, exc) from None
        raise
    return path


def _unseen(name: str, value: Any, where: str) -> str:
    return (
        f"Column '{name}' has {str(value)[:40]!r}{where}, a value not seen in training; without strict=True "
        "it is treated as 'other'."
    )


class Artifact:
    """A verified artifact: predict with input checks against the training schema."""

    def __init__(
        self,
        predictor: Predictor,
        schema: dict[str, Any],
        metrics: dict[str, Any],
        manifest: dict[str, Any],
        path: str | None = None,
    ) -> None:
        self.predictor = predictor
        self.schema = schema
        self.metrics = metrics
        self.manifest = manifest
        self.path = path
        self._numeric = [c["name"] for c in schema["columns"] if c["type"] == "number"]
        self._categories = {c["name"]: set(c["categories"]) for c in schema["columns"] if "categories" in c}

    @property
    def task(self) -> str:
        return self.predictor.task

    @property
    def classes(self) -> list[Any] | None:
        return None if self.predictor.classes is None else list(self.predictor.classes)

    @property
    def threshold(self) -> float | None:
        """Binary: `predict` gives classes[1] when its probability is at least this (None: argmax)."""
        return self.predictor.decision_threshold

    def set_threads(self, threads: int) -> None:
        self.predictor.set_threads(threads)

    def problems(self, rows: Any, strict: bool = False) -> list[str]:
        """What is wrong with these rows for this model, one sentence each (empty when they are fine).

        Always: a missing column, or text where a number belongs. With `strict`, also a category
        never seen in training (otherwise it is treated as 'other')."""
        import pandas as pd

        expected = [c["name"] for c in self.schema["columns"]]
        if isinstance(rows, pd.DataFrame):
            absent = [c for c in expected if c not in rows.columns]
            if absent:
                return [f"Column '{absent[0]}' is missing; the model needs: {', '.join(expected)}."]
            found = []
            for name in self._numeric:
                column = rows[name]
                if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                    continue
                bad = column.notna() & pd.to_numeric(column, errors="coerce").isna()
                if bad.any():
                    at = int(np.flatnonzero(bad.to_numpy())[0])
                    found.append(not_a_number(name, column.iloc[at], f" in row {at}"))
            if strict:
                for name, seen in self._categories.items():
                    column = rows[name]
                    bad = column.notna() & ~column.astype(str).isin(seen)
                    if bad.any():
                        at = int(np.flatnonzero(bad.to_numpy())[0])
                        found.append(_unseen(name, column.iloc[at], f" in row {at}"))
            return found
        if isinstance(rows, Mapping):
            records: list[Any] = [rows]
        elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
            records = list(rows)
        else:
            records = [None]
        if any(not isinstance(r, Mapping) for r in records):
            return [
                f"Rows of type {type(rows).__name__} cannot be predicted; pass a DataFrame, a list of dicts "
                "or one dict."
            ]
        found = []
        for i, record in enumerate(records):
            where = "" if len(records) == 1 else f" in row {i}"
            absent = [c for c in expected if c not in record]
            if absent:
                found.append(f"Column '{absent[0]}' is missing{where}; the model needs: {', '.join(expected)}.")
                continue
            for name in self._numeric:
                value = record[name]
                if value is None or isinstance(value, (int, float)):
                    continue
                try:
                    float(value)
                except (TypeError, ValueError):
                    if not is_missing(value):
                        found.append(not_a_number(name, value, where))
            if strict:
                for name, seen in self._categories.items():
                    value = record[name]
                    if not is_missing(value) and str(value) not in seen:
                        found.append(_unseen(name, value, where))
            if len(found) >= 5:
                break
        return found

    def _checked(self, rows: Any, strict: bool) -> Any:
        found = self.problems(rows, strict)
        if found:
            raise InputSchemaError(found[0])
        return rows

    def _one_pass(self, rows: Any, strict: bool) -> bool:
        """One dict on the verified fast path checks its numbers while encoding them."""
        return not strict and isinstance(rows, Mapping) and getattr(self.predictor, "fast_single_row", False)

    def predict(self, rows: Any, strict: bool = False) -> np.ndarray:
        if self._one_pass(rows, strict):
            return self.predictor.predict(rows, check_types=True)
        return self.predictor.predict(self._checked(rows, strict))

    def predict_proba(self, rows: Any, strict: bool = False) -> np.ndarray:
        if self.predictor.task == "regression":
            return self.predictor.predict_proba(rows)  # raises the one-sentence error
        if self._one_pass(rows, strict):
            return self.predictor.scores(rows, check_types=True)
        return self.predictor.predict_proba(self._checked(rows, strict))


def _read_member(archive: zipfile.ZipFile, name: str, cap: int, label: str) -> bytes:
    """One member's bytes, read in chunks and refused as soon as it expands past `cap` bytes
    (the size the zip's directory declares may lie, so the bytes themselves are counted)."""
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise _too_large(label, name, cap)
    chunks, total = [], 0
    with archive.open(info) as member:
        while chunk := member.read(1 << 20):
            total += len(chunk)
            if total > cap:
                raise _too_large(label, name, cap)
            chunks.append(chunk)
    return b"".join(chunks)


def _too_large(label: str, name: str, cap: int) -> ArtifactError:
    return ArtifactError(
        f"Artifact '{label}': '{name}' expands past {cap / 1e6:,.0f} MB, more than an advisor artifact holds; "
        f"it is refused (a real artifact this large needs {MAX_EXPANDED_ENV} raised)."
    )


def read_verified(path: str | Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The artifact's files after checking them against its manifest; raises ArtifactError otherwise."""
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise ArtifactError(f"Artifact '{path}' does not exist; export one from a run first.")
    cap = megabytes_from_env(MAX_EXPANDED_ENV, DEFAULT_MAX_EXPANDED_MB, ArtifactError)
    try:
        with zipfile.ZipFile(path) as archive:
            # The manifest first, through a small cap: nothing else is read before it is checked.
            try:
                manifest_bytes = _read_member(archive, "manifest.json", MANIFEST_MAX_BYTES, label)
                manifest = json.loads(manifest_bytes)
                if not isinstance(manifest, dict):
                    raise ValueError("not an object")
            except (KeyError, ValueError):
                raise ArtifactError(f"'{label}' has no readable manifest, so it is not an advisor artifact.") from None
            if manifest.get("format") != FORMAT or manifest.get("version") not in READABLE_VERSIONS:
                raise ArtifactError(
                    f"'{label}' is format {manifest.get('format')!r} version {manifest.get('version')!r}; "
                    f"this advisor reads {FORMAT} version {FORMAT_VERSION}."
                )
            listed = manifest.get("files", {})
            if not isinstance(listed, dict):
                raise ArtifactError(f"'{label}' has a malformed manifest (no file list), so it is refused.")
            names = archive.namelist()
            for name in names:  # refuse a member the manifest does not list before reading any body
                if name not in listed and name not in ("manifest.json", "manifest.hmac"):
                    raise ArtifactError(
                        f"Artifact '{label}' holds '{name}', which its manifest does not list; it was "
                        "changed after export, so it is refused."
                    )
            contents: dict[str, bytes] = {}
            budget = cap
            for name in names:
                if name == "manifest.json":
                    continue
                contents[name] = _read_member(archive, name, budget, label)
                budget -= len(contents[name])
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
        raise ArtifactError(f"Artifact '{label}' is not a readable zip file ({exc}); export it again.") from None
    except Exception as exc:  # CRC mismatches surface as zlib / BadZipFile variants
        raise ArtifactError(f"Artifact '{label}' is damaged ({type(exc).__name__}: {exc}); export it again.") from None
    signature = contents.pop("manifest.hmac", None)
    expected_signature = _signature(manifest_bytes)
    if expected_signature is not None and (
        signature is None or not hmac.compare_digest(signature, expected_signature.encode())
    ):
        raise ArtifactError(f"Artifact '{label}' is not signed with this {KEY_ENV}; refusing to load it.")
    listed = manifest.get("files", {})
    for name in sorted(set(contents) | set(listed)):
        if name not in listed:
            raise ArtifactError(
                f"Artifact '{label}' holds '{name}', which its manifest does not list; it was "
                "changed after export, so it is refused."
            )
        if name not in contents:
            raise ArtifactError(f"Artifact '{label}' lacks '{name}', which its manifest lists; export it again.")
        if _sha256(contents[name]) != listed[name]:
            raise ArtifactError(
                f"Artifact '{label}': '{name}' does not match its SHA-256 in the manifest; the "
                "file was changed or damaged after export, so it is refused."
            )
    return contents, manifest


def load_artifact(path: str | Path, trust: bool = False) -> Artifact:
    """Verify an exported artifact and load it: the digests first, then the model, which creates
    only allow-listed classes from plain values and arrays. A pickle inside (an artifact from
    before format 2, or a plug-in model) is read only with `trust=True`: loading a pickle can run
    any code, so give it only for artifacts you or your own run produced."""
    contents, manifest = read_verified(path)
    predictor = load_model_files(contents, Path(path).name, trust=trust)
    return Artifact(
        predictor, json.loads(contents["schema.json"]), json.loads(contents["metrics.json"]), manifest, str(path)
    )


def load_and_answer(
    path: str | Path, row: Any, trust: bool = False, threads: int | None = None
) -> tuple[Artifact, float, float]:
    """Load an artifact and predict one row, as a service does when it starts: the artifact, the
    seconds to load it (digests checked, model rebuilt, threads pinned when given) and the
    seconds for that first answer. Every start-up figure the advisor shows is taken with this."""
    start = time.perf_counter()
    artifact = load_artifact(path, trust=trust)
    if threads is not None:
        artifact.set_threads(threads)
    loaded = time.perf_counter()
    artifact.predict(row)
    return artifact, loaded - start, time.perf_counter() - loaded


def model_members(contents: Mapping[str, bytes]) -> dict[str, bytes]:
    """The members of an artifact that hold its model."""
    return {name: data for name, data in contents.items() if is_model_member(name)}


def model_digest(contents: Mapping[str, bytes]) -> str:
    """One SHA-256 over the model's members (names and bytes): the same model gives the same digest."""
    digest = hashlib.sha256()
    for name, data in sorted(model_members(contents).items()):
        digest.update(name.encode() + b"\0" + _sha256(data).encode() + b"\n")
    return digest.hexdigest()


def synthetic_rows(predictor: Predictor, n: int = 200, seed: int = 0) -> Any:
    """Rows drawn from the training statistics (no training data is kept): numbers around each
    column's mean, categories from those seen. For checking a converted model, not for scoring it."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    encoder = predictor.encoder
    group = encoder.numeric_
    columns: dict[str, Any] = {}
    for j, name in enumerate(group.columns):
        columns[name] = rng.normal(group.means[j], group.scales[j], n)
    for block in encoder.blocks_:
        if isinstance(block, CategoricalBlock):
            seen = [v for v in block.vocabulary if v != MISSING] or ["other"]
            columns[block.column] = rng.choice([*seen, "never-seen"], n)
        else:
            columns[block.column] = [None] * n
    return pd.DataFrame(columns)[encoder.columns_]


def export(run: Any, key: str, out: str | Path, onnx: bool = True) -> Path:
    """Write candidate `key` of a run (a `Run`) as a deployable artifact at `out`, checked first.

    The file holds the predictor the advisor measured, with the run's final figures. With
    `onnx`, it also holds `model.onnx` where a converter exists and onnxruntime gives the same
    answers; `preprocessing.json` describes the preprocessing in plain numbers; `export.json`
    says whether ONNX was written, and why not when not.
    """
    from advisor.errors import UnknownKey, did_you_mean

    keys = [c.key for c in run.candidates]
    if key not in keys:
        raise UnknownKey(f"Candidate '{key}' is not in run {run.run_id}; {did_you_mean(key, keys)}.")
    candidate = run.candidate(key)
    if not candidate.artifact or candidate.status not in ("trained", "measured"):
        raise AdvisorError(
            f"Candidate '{key}' of run {run.run_id} has no artifact ({candidate.status}); "
            "choose a trained or measured candidate."
        )
    contents, _ = read_verified(candidate.artifact)
    # The run's own store: a plug-in model or an artifact of an older run may be pickled (trusted
    # here, as the run wrote it). What is exported is stored without pickle wherever the model allows.
    predictor = load_model_files(contents, Path(candidate.artifact).name, trust=True)
    model = model_members(contents) if "model.json" in contents else model_files(predictor)
    extra: dict[str, bytes] = {}
    report: dict[str, Any] = {"onnx": None}
    if onnx:
        from advisor.deploy.onnx import NoOnnx, onnx_export

        try:
            data, check = onnx_export(
                predictor.model,
                predictor.encoder.transform(synthetic_rows(predictor)),
                threshold=predictor.decision_threshold,
            )
            extra["model.onnx"] = data
            report["onnx"] = check | {"checked_on": "200 synthetic rows drawn from the training statistics"}
            if predictor.decision_threshold is not None:
                report["onnx"]["output"] = (
                    f"probabilities; predict '{predictor.classes[1]}' when probability[:, 1] >= "
                    f"{predictor.decision_threshold!r} (the `decision` in preprocessing.json), as predict does"
                )
        except NoOnnx as exc:
            report["onnx_skipped"] = str(exc)
    extra["export.json"] = json.dumps(report, indent=2).encode()
    return write_artifact(out, model, predictor, json.loads(contents["metrics.json"]), extra)


def load_predictor(path: str | Path, trust: bool = False) -> Predictor:
    """The predictor inside an exported artifact (.zip), after its digests are checked.

    Nothing is unpickled unless `trust` is given (see `modelfile`)."""
    if Path(path).suffix != ".zip":
        raise ArtifactError(
            f"'{Path(path).name}' is not an advisor artifact (.zip); export one with 'python -m advisor export'."
        )
    return load_artifact(path, trust=trust).predictor
