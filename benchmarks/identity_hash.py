"""Model identity cost: hashing every weight byte of a 7B-sized checkpoint, then reusing the hash.

Writes a checkpoint-shaped folder of random shards (default 14 GB, like a 7B model in bf16),
then times the harness's `dir_identity` three ways: the first time (every byte read and hashed),
again with the file-hash cache (a stat per file), and the old head-of-file fingerprint (name,
config and the first MiB of each shard) that it replaced. Page-cache state is printed: run with
`--drop-caches` as root to start from disk.

    python benchmarks/identity_hash.py --gb 14 --dir /tmp/identity-bench
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.backends.weights import dir_identity  # noqa: E402


def write_checkpoint(folder: Path, gb: float, shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    per = int(gb * 1e9 / shards)
    block = os.urandom(64 << 20)
    for i in range(shards):
        with open(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", "wb") as f:
            for written in range(0, per, len(block)):
                f.write(block[: min(len(block), per - written)])


def head_fingerprint(path: Path) -> str:
    """The replaced method: config plus size and first MiB of each weight file."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.name == "config.json":
            h.update(f.read_bytes())
        elif f.suffix == ".safetensors":
            h.update(f"{f.name}:{f.stat().st_size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def drop_caches() -> bool:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=14.0)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "identity-bench")
    ap.add_argument("--drop-caches", action="store_true", help="start from disk (needs root)")
    args = ap.parse_args()
    os.environ["ECD_HARNESS_HOME"] = tempfile.mkdtemp(prefix="identity-home-")
    ckpt = args.dir / "model"
    shutil.rmtree(args.dir, ignore_errors=True)
    write_s = timed(lambda: write_checkpoint(ckpt, args.gb, args.shards))
    size = sum(f.stat().st_size for f in ckpt.iterdir()) / 1e9
    dropped = drop_caches() if args.drop_caches else False
    first = timed(lambda: dir_identity(ckpt))
    again = timed(lambda: dir_identity(ckpt))
    head = timed(lambda: head_fingerprint(ckpt))
    print(f"checkpoint: {size:.2f} GB in {args.shards} shards (written in {write_s:.1f} s)")
    print(f"page cache dropped before the first hash: {dropped}; load average {os.getloadavg()}")
    print(f"full identity, first time : {first:8.2f} s  ({size / first:.2f} GB/s)")
    print(f"full identity, cached     : {again * 1e3:8.2f} ms")
    print(f"old first-MiB fingerprint : {head * 1e3:8.2f} ms")
    print(f"ratio first/cached        : {first / again:8.0f}x")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
