"""Training rows: load a stage's data, check its format row by row, fingerprint it.

Accepted sources (see DataConfig): a generation export folder, a JSONL file, a `save_to_disk`
folder, or an HF hub dataset id. Rows are checked before any model loads, so a dataset in the wrong
format costs seconds, not a model load.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import read_jsonl, read_text
from harness.errors import HarnessError
from training.stages import get_stage

_HF_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass
class StageData:
    """One stage's rows in TRL's format, and where they came from (for the provenance record)."""

    stage: str
    source: str
    rows: list[dict]
    fingerprint: str
    export_stats: dict | None = field(default=None, repr=False)

    def provenance(self) -> dict:
        out = {"source": self.source, "rows": len(self.rows), "sha256": self.fingerprint}
        if self.export_stats is not None:
            out["export_stats"] = self.export_stats
        return out

    def dataset(self):
        from datasets import Dataset

        return Dataset.from_list(self.rows)


def _from_disk(path: Path, split: str) -> list[dict]:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise HarnessError(f"{path} has splits {sorted(ds)}, not {split!r}; set dataset.split")
        ds = ds[split]
    return ds.to_list()


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()


def read_source(source: str, stage: str, split: str) -> tuple[list[dict], str, dict | None]:
    """Rows, a description of where they came from, and the export's stats.json if any."""
    path = Path(source).expanduser()
    if path.is_dir():
        stats = _export_stats(path / "stats.json")
        if (path / f"{stage}.jsonl").is_file():
            return read_jsonl(path / f"{stage}.jsonl"), str(path / f"{stage}.jsonl"), stats
        if _is_saved_dataset(path / stage):
            return _from_disk(path / stage, split), str(path / stage), stats
        if _is_saved_dataset(path):
            return _from_disk(path, split), str(path), None
        raise HarnessError(
            f"{path} is neither a generation export (no {stage}.jsonl or {stage}/ inside) nor a "
            "datasets.save_to_disk folder; point dataset.path at `python -m generation` output"
        )
    if path.is_file():
        if path.suffix not in (".jsonl", ".json"):
            raise HarnessError(f"{path}: expected a .jsonl file of {stage.upper()} rows")
        return read_jsonl(path), str(path), None
    if _HF_ID.match(source) and not source.startswith((".", "/")):
        return _from_hub(source, split), f"hf:{source}[{split}]", None
    raise HarnessError(
        f"dataset {source!r} not found: not a folder, a JSONL file or an HF dataset id like org/name"
    )


def _export_stats(path: Path) -> dict | None:
    """A generation export's stats.json (kept in the provenance record), if there is one."""
    if not path.is_file():
        return None
    try:
        return json.loads(read_text(path, "export stats"))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}: not valid JSON ({e.msg}); re-export or delete it") from None


def _from_hub(name: str, split: str) -> list[dict]:
    from datasets import load_dataset

    try:
        return load_dataset(name, split=split).to_list()
    except Exception as e:  # offline, unknown id, missing split: all one line for the user
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise HarnessError(
            f"could not load HF dataset {name!r} split {split!r} ({first}); offline, use a local "
            "export folder or JSONL file"
        ) from None


def _fingerprint(rows: list[dict]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def load_stage_data(source: str, stage: str, split: str = "train", max_samples: int | None = None):
    """Read, check and convert one stage's rows; any bad row is a one-line error naming it."""
    raw, origin, stats = read_source(source, stage, split)
    if max_samples:
        raw = raw[:max_samples]
    if not raw:
        raise HarnessError(f"{origin}: no rows for stage {stage!r}")
    kind = get_stage(stage)
    rows = []
    for i, row in enumerate(raw):
        out = kind.rows(row) if isinstance(row, dict) else "not a JSON object"
        if isinstance(out, str):
            raise HarnessError(
                f"{origin} row {i}: not a {stage.upper()} row ({out}); expected {kind.format}"
            )
        rows.append(out)
    shapes = {(tuple(sorted(r)), isinstance(next(iter(r.values())), str)) for r in rows}
    if len(shapes) > 1:
        raise HarnessError(f"{origin}: rows mix formats; use one of {kind.format} throughout")
    return StageData(stage, origin, rows, _fingerprint(rows), stats)
