"""Checks an `accelerate launch` config (training/launch/*.yaml) against the installed accelerate.

accelerate copies a config's `deepspeed_config`/`fsdp_config` entries onto its launch options
without looking at them, so a key it no longer knows (renamed between versions) is dropped in
silence and the run trains with the default, found out on a cluster if at all. `training check
--launch` runs this on any machine, DeepSpeed installed or not, and the tests check every shipped
config, so the configs cannot rot unnoticed when accelerate is upgraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.data import parse_yaml, read_text
from harness.errors import HarnessError

# a nested section -> the prefix accelerate gives its keys on the launch command line
SECTIONS = {"deepspeed_config": "", "fsdp_config": "fsdp_", "fp8_config": "fp8_"}
# the package each distributed type needs at launch beside accelerate
NEEDS = {"DEEPSPEED": "deepspeed"}
MIXED_PRECISION = ("no", "fp16", "bf16", "fp8")


@dataclass(frozen=True)
class LaunchSummary:
    distributed_type: str
    processes: int
    versions: dict[str, str | None]  # accelerate and what the type needs; None: not installed

    def line(self, path: Path) -> str:
        found = ", ".join(f"{k} {v or 'not installed here'}" for k, v in self.versions.items())
        return (
            f"launch config {path}: {self.distributed_type}, {self.processes} processes ({found})"
        )


def _launch_options() -> set[str]:
    from accelerate.commands.launch import launch_command_parser

    return {action.dest for action in launch_command_parser()._actions}


def check_launch_config(path: Path) -> LaunchSummary:
    """The config's keys, values and the packages it needs, or one line saying what is wrong."""
    from accelerate.commands.config.config_args import ClusterConfig

    origin = f"launch config {path}"
    data = parse_yaml(read_text(path, "launch config", "; see training/launch/"), origin)
    if not isinstance(data, dict):
        raise HarnessError(f"{origin}: expected a mapping of accelerate config keys")
    accelerate = f"accelerate {metadata.version('accelerate')}"
    fields = ClusterConfig.process_config(dict(data))
    unknown = sorted(set(fields) - set(ClusterConfig.__dataclass_fields__))
    if unknown:
        raise HarnessError(f"{origin}: keys {unknown} that {accelerate} does not know")
    try:
        config = ClusterConfig(**fields)
    except ValueError as e:  # a value accelerate does not know, e.g. distributed_type
        raise HarnessError(f"{origin}: {str(e).splitlines()[0]}") from None
    known = _launch_options()
    for section, prefix in SECTIONS.items():
        entries = data.get(section) or {}
        unknown = sorted(
            k for k in entries if (k if k.startswith(prefix) else prefix + k) not in known
        )
        if unknown:
            raise HarnessError(
                f"{origin}: {section} has keys {unknown} that {accelerate} does not know "
                "(it would ignore them)"
            )
    if config.mixed_precision not in MIXED_PRECISION:
        raise HarnessError(
            f"{origin}: mixed_precision {config.mixed_precision!r}; use one of "
            f"{', '.join(MIXED_PRECISION)}"
        )
    kind = config.distributed_type.value
    versions: dict[str, str | None] = {"accelerate": metadata.version("accelerate")}
    if kind in NEEDS:
        try:
            versions[NEEDS[kind]] = metadata.version(NEEDS[kind])
        except metadata.PackageNotFoundError:
            versions[NEEDS[kind]] = None
    return LaunchSummary(kind, config.num_processes, versions)
