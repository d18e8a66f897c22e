"""Model registry: named entries from YAML (shipped + user), or any HF id / local directory."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.lock import waiting_for
from harness.paths import home
from harness.validate import FRACTION, NON_NEGATIVE, POSITIVE, SEED, Rule, build

GROUPS = ("embedded", "baseline", "reference", "ecd", "base", "judge", "user")
_HF_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# Rules for SamplingParams fields given as registry (or recipe) defaults
SAMPLING_RULES = {
    "max_new_tokens": POSITIVE,
    "temperature": NON_NEGATIVE,
    "top_p": FRACTION,
    "seed": SEED,
    "top_logprobs": NON_NEGATIVE,
    "n": POSITIVE,
}


@dataclass
class ModelSpec:
    """One model: where its weights are, how to prompt it, and how to run it by default."""

    name: str
    source: str = Rule("that is not empty", lambda v: v.strip() != "").field()
    params_b: float | None = NON_NEGATIVE.field(None)
    group: str = "user"
    backend: str = "hf"
    chat_template: str = "auto"
    system_prompt: str | None = None
    sampling: dict = field(default_factory=dict)
    base_url: str | None = None
    backend_options: dict = field(default_factory=dict)  # e.g. {tensor_parallel_size: 4}
    revision: str | None = None
    trust_remote_code: bool = False
    notes: str = ""
    meta: dict = field(default_factory=dict)  # e.g. training provenance of an ECD checkpoint

    def __post_init__(self) -> None:
        from harness.backends.table import backend_names  # harness.backends imports this module

        if self.backend not in backend_names():
            raise HarnessError(
                f"model {self.name!r}: unknown backend {self.backend!r}; "
                f"use one of {', '.join(backend_names())}"
            )
        if self.group not in GROUPS:
            raise HarnessError(
                f"model {self.name!r}: unknown group {self.group!r}; use one of {', '.join(GROUPS)}"
            )

    @property
    def is_local(self) -> bool:
        return self.source.startswith("pkg:") or Path(self.source).expanduser().is_dir()


def check_sampling(sampling: dict, origin: str, key: str = "sampling") -> None:
    """Sampling defaults must be SamplingParams fields with usable values: one line otherwise."""
    from harness.backends.base import SamplingParams  # harness.backends imports this module

    build(SamplingParams, sampling, origin, key, SAMPLING_RULES)


def _parse(entries, origin: str) -> dict[str, ModelSpec]:
    from harness.backends.table import get_backend  # harness.backends imports this module

    if not isinstance(entries, dict):
        raise HarnessError(
            f"{origin}: 'models' must be a mapping {{name: entry}}, got {type(entries).__name__}"
        )
    specs = {}
    for name, entry in entries.items():
        where = f"{origin}: model {name!r}"
        data = {**entry, "name": name} if isinstance(entry, dict) else entry
        try:
            spec = build(ModelSpec, data, where)
        except HarnessError as e:  # ModelSpec's own checks name the model, not the file
            raise HarnessError(str(e) if str(e).startswith(origin) else f"{origin}: {e}") from None
        check_sampling(spec.sampling, where)
        spec.backend_options = get_backend(spec.backend).check(
            spec.backend_options, where, "backend_options"
        )
        specs[name] = spec
    return specs


def _load_yaml(text: str, origin: str) -> dict[str, ModelSpec]:
    data = parse_yaml(text, origin)
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"models"}:
        raise HarnessError(f"{origin}: expected one key, 'models', mapping names to entries")
    return _parse(data.get("models") or {}, origin)


def user_registry_path() -> Path:
    return Path(os.environ.get("ECD_HARNESS_REGISTRY") or home() / "registry.yaml")


def load_registry() -> dict[str, ModelSpec]:
    """Shipped entries, then the user's (trained checkpoints), the latter overriding by name."""
    shipped = resources.files("harness").joinpath("models.yaml").read_text()
    specs = _load_yaml(shipped, "harness/models.yaml")
    user = user_registry_path()
    if user.exists():
        specs.update(_load_yaml(read_text(user, "registry"), str(user)))
    return specs


PATH_PREFIXES = ("/", "./", "../", "~")


def folder_of(name: str) -> Path | None:
    """The folder a model name means (absolute, links kept as given): an existing directory, or
    a name spelled as a path (a deleted checkpoint still names its runs); None otherwise."""
    path = Path(name).expanduser()
    if path.is_dir() or name.startswith(PATH_PREFIXES):
        return Path(os.path.abspath(path))
    return None


def registered_as(folder: Path, specs: dict[str, ModelSpec]) -> str | None:
    """The registry entry whose source is `folder` (a trained checkpoint), if any."""
    target = folder.resolve()
    for spec in specs.values():
        source = None if spec.source.startswith("pkg:") else folder_of(spec.source)
        if source is not None and source.resolve() == target:
            return spec.name
    return None


def resolve_model(name_or_path: str, backend: str | None = None) -> ModelSpec:
    """A registry name, a local checkpoint directory (its registry entry when it has one, else
    named by its absolute path), an HF hub id, or with `backend` "openai" the name an endpoint
    serves."""
    specs = load_registry()
    if name_or_path in specs:
        return specs[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise HarnessError(f"model directory {path} has no config.json; point at a checkpoint")
        folder = folder_of(name_or_path)
        known = registered_as(folder, specs)
        if known:
            return specs[known]
        return ModelSpec(name=str(folder), source=str(path.resolve()))
    if path.exists():
        raise HarnessError(f"model {name_or_path!r} is a file; point at a checkpoint directory")
    if backend == "openai" and name_or_path.strip():  # an endpoint's served name, any spelling
        return ModelSpec(name=name_or_path, source=name_or_path, backend="openai")
    if _HF_ID.match(name_or_path):
        return ModelSpec(name=name_or_path, source=name_or_path)
    raise HarnessError(
        f"unknown model {name_or_path!r}: not a registry name (see `python -m harness models`), "
        "a local checkpoint directory or an HF id like org/name (an endpoint's served name "
        "needs --backend openai)"
    )


def register(spec: ModelSpec) -> Path:
    """Add or replace a user entry (atomic write), so `--model NAME` finds it."""
    path = user_registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # two trainings finishing at once (an experiment's parallel steps) must not drop an entry
    with waiting_for(path):
        data = yaml.safe_load(path.read_text()) if path.exists() else None
        data = data or {"models": {}}
        entry = {k: v for k, v in asdict(spec).items() if k != "name" and v not in (None, {}, "")}
        data["models"][spec.name] = entry
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        os.replace(f.name, path)
    return path
