"""The taxonomy of evolution operations, loaded from YAML and checked before any model call."""

from __future__ import annotations

import inspect
import random
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.validate import is_number

SUBTYPE_KEYS = {"prompt", "weight", "check", "mention", "keeps_task"}


@dataclass(frozen=True)
class Constraint:
    """A rule-checkable requirement: an IFEval instruction id with concrete kwargs."""

    instruction_id: str
    kwargs: dict
    description: str  # the checker's own wording, given to the evolver


@dataclass
class Operation:
    group: str
    name: str
    prompt: str
    weight: float = 1.0
    check: dict | None = None  # {"instruction_id": str, "kwargs": {name: value or choices}}
    mention: list[str] = field(default_factory=list)
    keeps_task: bool = True

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    def sample_constraint(self, rng: random.Random) -> Constraint | None:
        if self.check is None:
            return None
        kwargs = {
            k: rng.choice(v) if isinstance(v, list) else v for k, v in self.check["kwargs"].items()
        }
        return Constraint(self.check["instruction_id"], kwargs, describe(self.check, kwargs))

    def required_mentions(self, constraint: Constraint | None) -> list[list[str]]:
        """Alternatives per required mention, filled from the constraint's kwargs."""
        kwargs = constraint.kwargs if constraint else {}
        needed = []
        for entry in self.mention:
            names = [f for _, f, _, _ in string.Formatter().parse(entry) if f]
            lists = [n for n in names if isinstance(kwargs.get(n), list)]
            variants = (
                [{**kwargs, lists[0]: item} for item in kwargs[lists[0]]] if lists else [kwargs]
            )
            needed += [entry.format(**v).lower().split("|") for v in variants]
        return needed


@dataclass
class Taxonomy:
    template: str
    group_weights: dict[str, float]
    operations: dict[str, Operation]  # by id "group/name"
    origin: str = ""

    def resolve(self, name: str) -> list[str]:
        """Operation ids named by a group ("format") or an id ("format/json")."""
        if name in self.operations:
            return [name]
        ids = [op_id for op_id, op in self.operations.items() if op.group == name]
        if not ids:
            raise HarnessError(
                f"unknown operation {name!r}; use a group ({', '.join(self.group_weights)}) "
                f"or one of {', '.join(self.operations)}"
            )
        return ids

    def reweighted(self, weights: dict[str, float]) -> Taxonomy:
        """Weights by group or by operation id override the file's."""
        groups = dict(self.group_weights)
        ops = {k: Operation(**vars(op)) for k, op in self.operations.items()}
        for name, w in weights.items():
            if not is_number(w) or w < 0:
                raise HarnessError(f"weight for {name!r} must be a number >= 0, got {w!r}")
            if name in groups:
                groups[name] = float(w)
            else:
                self.resolve(name)  # raises for unknown names
                ops[name].weight = float(w)
        return Taxonomy(self.template, groups, ops, self.origin)

    def sample(self, rng: random.Random, excluded: set[str] = frozenset()) -> Operation | None:
        """A group by weight, then a sub-type by weight, skipping excluded instruction ids."""
        eligible = {
            k: op
            for k, op in self.operations.items()
            if op.weight > 0 and not (op.check and op.check["instruction_id"] in excluded)
        }
        groups = [g for g, w in self.group_weights.items() if w > 0]
        groups = [g for g in groups if any(op.group == g for op in eligible.values())]
        if not groups:
            return None
        group = rng.choices(groups, [self.group_weights[g] for g in groups])[0]
        ops = [op for op in eligible.values() if op.group == group]
        return rng.choices(ops, [op.weight for op in ops])[0]


def describe(check: dict, kwargs: dict) -> str:
    """The IFEval checker's description of the constraint (its canonical wording)."""
    from harness.suites.ifeval_rules import INSTRUCTIONS

    cls = INSTRUCTIONS[check["instruction_id"]]
    return cls(check["instruction_id"]).build_description(**kwargs)


def conflicts(instruction_id: str) -> set[str]:
    from harness.suites.ifeval_rules import CONFLICTS

    return set(CONFLICTS.get(instruction_id, ()))


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def _operation(group: str, name: str, entry, origin: str) -> Operation:
    where = f"{origin}: operation {group}/{name}"
    if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str):
        raise HarnessError(f"{where} needs a mapping with a 'prompt' string")
    unknown = set(entry) - SUBTYPE_KEYS
    if unknown:
        raise HarnessError(
            f"{where} has unknown keys {sorted(unknown)}; known: {sorted(SUBTYPE_KEYS)}"
        )
    op = Operation(
        group=group,
        name=name,
        prompt=entry["prompt"],
        weight=entry.get("weight", 1),
        check=entry.get("check"),
        mention=entry.get("mention") or [],
        keeps_task=entry.get("keeps_task", True),
    )
    if not is_number(op.weight) or op.weight < 0:
        raise HarnessError(f"{where}: weight must be a number >= 0")
    if not isinstance(op.mention, list) or not all(isinstance(m, str) for m in op.mention):
        raise HarnessError(f"{where}: mention must be a list of strings")
    allowed = {"constraint"} if op.check else set()
    try:
        bad = _fields(op.prompt) - allowed
    except ValueError as e:
        raise HarnessError(f"{where}: prompt is not a valid template ({e})") from None
    if bad:
        raise HarnessError(f"{where}: prompt has unknown placeholders {sorted(bad)}")
    if op.check is not None:
        _validate_check(op, where)
    elif op.mention:
        for m in op.mention:
            if _fields(m):
                raise HarnessError(f"{where}: mention {m!r} has placeholders but no check")
    return op


def _validate_check(op: Operation, where: str) -> None:
    from harness.suites.ifeval_rules import INSTRUCTIONS

    check = op.check
    if not isinstance(check, dict) or set(check) - {"instruction_id", "kwargs"}:
        raise HarnessError(f"{where}: check needs exactly 'instruction_id' and 'kwargs'")
    if check.get("instruction_id") not in INSTRUCTIONS:
        raise HarnessError(
            f"{where}: unknown IFEval instruction id {check.get('instruction_id')!r}; "
            "see lm_eval.tasks.ifeval.instructions_registry"
        )
    check.setdefault("kwargs", {})
    if not isinstance(check["kwargs"], dict):
        raise HarnessError(f"{where}: check.kwargs must be a mapping")
    params = set(
        inspect.signature(INSTRUCTIONS[check["instruction_id"]]("x").build_description).parameters
    )
    unknown = set(check["kwargs"]) - params
    if unknown:
        raise HarnessError(
            f"{where}: kwargs {sorted(unknown)} are not arguments of {check['instruction_id']} "
            f"(it takes {sorted(params) or 'none'})"
        )
    for k, v in check["kwargs"].items():
        if isinstance(v, list) and not v:
            raise HarnessError(f"{where}: kwargs.{k} has no choices")
    example = op.sample_constraint(random.Random(0))
    for m in op.mention:
        missing = _fields(m) - set(example.kwargs)
        if missing:
            raise HarnessError(f"{where}: mention {m!r} names unknown kwargs {sorted(missing)}")


def parse_taxonomy(text: str, origin: str) -> Taxonomy:
    data = parse_yaml(text, origin)
    if not isinstance(data, dict) or not isinstance(data.get("operations"), dict):
        raise HarnessError(f"{origin}: expected a mapping with 'template' and 'operations'")
    template = data.get("template")
    if not isinstance(template, str):
        raise HarnessError(f"{origin}: 'template' must be a string")
    try:
        fields_ = _fields(template)
    except ValueError as e:
        raise HarnessError(f"{origin}: template is not a valid template ({e})") from None
    if fields_ != {"operation", "instruction"}:
        raise HarnessError(
            f"{origin}: template must use exactly {{operation}} and {{instruction}}, "
            f"found {sorted(fields_)}"
        )
    groups, ops = {}, {}
    for group, body in data["operations"].items():
        if not isinstance(body, dict) or not isinstance(body.get("subtypes"), dict):
            raise HarnessError(f"{origin}: group {group!r} needs a 'subtypes' mapping")
        weight = body.get("weight", 1)
        if not is_number(weight) or weight < 0:
            raise HarnessError(f"{origin}: group {group!r} weight must be a number >= 0")
        groups[str(group)] = float(weight)
        for name, entry in body["subtypes"].items():
            op = _operation(str(group), str(name), entry, origin)
            ops[op.id] = op
    if not ops:
        raise HarnessError(f"{origin}: no operations defined")
    return Taxonomy(template, groups, ops, origin)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The shipped taxonomy, or a user's YAML file in the same format."""
    if path is None:
        text = resources.files("generation").joinpath("data/taxonomy.yaml").read_text()
        return parse_taxonomy(text, "generation/data/taxonomy.yaml")
    return parse_taxonomy(read_text(path, "taxonomy file"), str(path))
