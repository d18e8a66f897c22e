"""Seed instructions I(0): a JSONL file, a local HF dataset, a hub id, or the shipped sample."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from generation.config import SeedsConfig
from harness import data
from harness.errors import HarnessError


@dataclass(frozen=True)
class Seed:
    id: str
    instruction: str


def _rows_from_dataset(obj, split: str, origin: str) -> list[dict]:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        if split not in obj:
            raise HarnessError(f"{origin} has no split {split!r}; it has {', '.join(obj)}")
        obj = obj[split]
    return [dict(r) for r in obj]


def _read_rows(cfg: SeedsConfig) -> tuple[list[dict], str]:
    if cfg.path is None:
        text = resources.files("generation").joinpath("data/seeds.jsonl")
        with resources.as_file(text) as p:
            return data.read_jsonl(Path(p)), "generation/data/seeds.jsonl"
    path = Path(cfg.path).expanduser()
    if path.is_file():
        if path.suffix not in (".jsonl", ".json"):
            raise HarnessError(f"seeds file {path} must be JSONL (.jsonl)")
        return data.read_jsonl(path), str(path)
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError):
            try:
                ds = datasets.load_dataset(str(path), split=cfg.split)
            except Exception as e:  # noqa: BLE001 - any loader failure is the user's folder
                raise HarnessError(
                    f"seeds folder {path} is neither a saved HF dataset nor data files "
                    f"datasets can read ({type(e).__name__})"
                ) from None
        return _rows_from_dataset(ds, cfg.split, str(path)), str(path)
    if "/" in cfg.path and not cfg.path.startswith((".", "/", "~")):
        if not data.hub_reachable():
            raise HarnessError(
                f"seeds {cfg.path!r} looks like a hub id but the HF hub is offline; "
                "pass a local JSONL file or dataset folder"
            )
        import datasets

        return _rows_from_dataset(
            datasets.load_dataset(cfg.path, split=cfg.split), cfg.split, cfg.path
        ), f"hub:{cfg.path}"
    raise HarnessError(f"seeds {cfg.path!r} not found: pass a JSONL file, dataset folder or hub id")


def load_seeds(cfg: SeedsConfig) -> tuple[list[Seed], str]:
    """Seeds with unique ids, in file order, and where they came from."""
    rows, origin = _read_rows(cfg)
    seeds, seen = [], set()
    for n, row in enumerate(rows, 1):
        text = row.get(cfg.field)
        if not isinstance(text, str) or not text.strip():
            raise HarnessError(
                f"{origin}: row {n} has no text in field {cfg.field!r} "
                f"(fields: {', '.join(map(str, row)) or 'none'}); set seeds.field / --seed-field"
            )
        extra = row.get(cfg.input_field) if cfg.input_field else None
        if isinstance(extra, str) and extra.strip():
            text = f"{text.strip()}\n\n{extra.strip()}"
        sid = row.get(cfg.id_field) if cfg.id_field else None
        sid = str(sid) if sid is not None else f"row-{n}"
        if sid in seen:
            raise HarnessError(f"{origin}: seed id {sid!r} appears twice; ids must be unique")
        seen.add(sid)
        seeds.append(Seed(sid, text.strip()))
        if cfg.limit and len(seeds) >= cfg.limit:
            break
    return seeds, origin
