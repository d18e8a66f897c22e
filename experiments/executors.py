"""Who runs the steps: this process, one after another (the default), or a Ray cluster.

Both take the steps still to run, in dependency order, and call `finished(node, record)` as each
completes (the driver marks it done in the store). Ray runs every step whose dependencies are done
at once, each a task holding the GPUs the step needs (`Node.gpus`: an eval of a 70B model its
tensor-parallel size, a 7B eval or a training run its own), so one node's GPUs are shared out and a
cluster's nodes work together. Ray is the engine here, not a copy of one: on SLURM start it the way
Ray's documentation describes (`ray start --head` on the first node, `ray start --address` on the
others) and pass `--ray-address auto`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from experiments.dag import Node
from experiments.spec import ExperimentSpec
from experiments.steps import execute
from harness.errors import HarnessError

Finished = Callable[[Node, dict], None]
# what a worker must see as the driver does: the harness's home, data, registry, plugins, hub cache
# and the thread count, which Ray would otherwise set to each task's CPUs (numerics follow it)
FORWARDED = (
    "ECD_HARNESS_",
    "HF_",
    "TRANSFORMERS_",
    "NLTK_DATA",
    "OPENAI_API_KEY",
    "PYTHONPATH",
    "OMP_NUM_THREADS",
)


def run_local(spec: ExperimentSpec, todo: list[Node], finished: Finished, quiet: bool) -> None:
    for node in todo:
        finished(node, execute(spec, node, quiet))


def _in_worker(spec: ExperimentSpec, node: Node, quiet: bool, cwd: str) -> dict:
    """A step in a Ray worker, from the driver's working directory (a shared path on a cluster),
    so relative paths in the spec mean what they mean to the driver."""
    os.chdir(cwd)
    return execute(spec, node, quiet)


def run_ray(spec: ExperimentSpec, todo: list[Node], finished: Finished, quiet: bool) -> None:
    try:
        import ray
    except ImportError:
        raise HarnessError(
            "the ray executor needs Ray: pip install -e '.[ray]' (or --executor local)"
        ) from None
    cfg = spec.executor
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED)}
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=cfg.address,
            num_cpus=None if cfg.address else cfg.num_cpus,
            runtime_env={"env_vars": env},
            include_dashboard=False,
            log_to_driver=not quiet,
        )
    task = ray.remote(max_retries=0)(_in_worker)
    waiting = {n.id: n for n in todo}
    running: dict = {}
    try:
        while waiting or running:
            for node in [
                n
                for n in waiting.values()
                if not set(n.deps) & (set(waiting) | {r.id for r in running.values()})
            ]:
                ref = task.options(num_cpus=1, num_gpus=node.gpus, name=node.id).remote(
                    spec, node, quiet, os.getcwd()
                )
                running[ref] = waiting.pop(node.id)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                node = running.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    for other in running:
                        ray.cancel(other, force=True)
                    cause = e.cause if isinstance(e.cause, HarnessError) else None
                    raise HarnessError(f"{node.id}: {cause or str(e).splitlines()[-1]}") from None
                finished(node, record)
    finally:
        if started:
            ray.shutdown()


EXECUTORS = {"local": run_local, "ray": run_ray}
