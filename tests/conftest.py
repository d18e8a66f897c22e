"""Shared fixtures: a per-session harness home, the shared benchmark data, a loopback server,
a PostgreSQL server and a store on each backend."""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECD_HARNESS_DATA") or ROOT.parent / "shared" / "benchmarks")


# The inner loop's tier (`pytest -m fast`): files whose tests load no model and start no server
# (PostgreSQL, Ray, Chromium, pdfLaTeX, vLLM). In them, a test that asks for a heavy fixture
# below is left out of the tier all the same. `pytest` with no -m still runs everything.
FAST_FILES = {
    "test_alpaca_eval.py",
    "test_api.py",
    "test_bad_inputs_pipeline.py",
    "test_cli_errors.py",
    "test_comparability.py",
    "test_compare.py",
    "test_followbench.py",
    "test_generation.py",
    "test_golden.py",
    "test_ifbench.py",
    "test_ifeval_rules.py",
    "test_infobench.py",
    "test_judge.py",
    "test_judge_fidelity.py",
    "test_layers.py",
    "test_leaderboards.py",
    "test_model_layer.py",
    "test_mt_bench.py",
}
# the embedded model, a PostgreSQL server, a random model, a store filled by embedded runs
HEAVY_FIXTURES = {
    "embedded_model_dir",
    "postgres",
    "postgres_url",
    "store_at",
    "tiny_teacher",
    "filled",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        light = not HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
        if item.path.name in FAST_FILES and light:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session", autouse=True)
def harness_home(tmp_path_factory) -> Path:
    """One home per test session: the embedded model is converted once and shared by all tests."""
    home = tmp_path_factory.mktemp("harness-home")
    os.environ["ECD_HARNESS_HOME"] = str(home)
    os.environ["ECD_HARNESS_DATA"] = str(SHARED)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.pop("ECD_HARNESS_STORE", None)
    os.environ.pop("ECD_HARNESS_REGISTRY", None)
    return home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED / "ifeval" / "input_data.jsonl").exists():
        pytest.fail(f"benchmark data not found at {SHARED}: clone with ../shared beside the repo")
    return SHARED


@pytest.fixture(scope="session")
def embedded_model_dir(harness_home) -> Path:
    """The embedded SmolLM2-135M, dequantized once into the session's harness home."""
    from harness.backends.weights import local_path
    from harness.registry import resolve_model

    return Path(local_path(resolve_model("smollm2-135m-instruct")))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL server for the session: pgserver's own binaries, listening on a Unix
    socket in a temporary folder (as root, pgserver runs it as its own `pgserver` user); stopped
    at the end. Nothing is skipped: a server that cannot start fails its tests, with the reason."""
    try:
        with warnings.catch_warnings():  # platformdirs: $XDG_RUNTIME_DIR unset, /tmp used
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(tmp_path_factory.mktemp("postgres") / "data", "stop")
    except Exception as e:
        pytest.fail(f"PostgreSQL (pgserver) could not start: {type(e).__name__}: {e}")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres) -> str:
    """A new, empty database on the session's server, as a store URL."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres.get_uri(), autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres.get_uri(name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_at(request, tmp_path):
    """Where a test's store is, once per backend: a SQLite file, and a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    return request.getfixturevalue("postgres_url")


def run_module(module: str, *args: str, plugins: str = "", timeout: int = 600):
    """`python -m MODULE ARGS` from the repository root, with test-defined suites or backends
    (modules in tests/) named in $ECD_HARNESS_PLUGINS."""
    import subprocess
    import sys

    env = {**os.environ, "ECD_HARNESS_PLUGINS": plugins}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
