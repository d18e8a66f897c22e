"""What must match for two runs' numbers to be compared, and why two runs can't be.

A run's comparability key holds the suite and its version, the data (a hash of every item
loaded), the item set it was scored on, the sampling settings, the judge and the suite's scoring
options. Two runs of different models are comparable when their keys are equal; leaderboards and
`compare` read the reasons from `differences` instead of putting unlike numbers side by side.
"""

from __future__ import annotations

import hashlib
import json


def digest(obj) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def key(
    suite: str,
    version: str,
    data: list[dict],
    items: list[dict],
    sampling: dict | None,
    judge: dict | None = None,
    options: dict | None = None,
) -> dict:
    """`data`: every item the suite loaded; `items`: those this run scored (after --limit)."""
    return {
        "suite": suite,
        "suite_version": version,
        "data_sha": digest(data),
        "n_data": len(data),
        "items_sha": digest(sorted(str(it["id"]) for it in items)),
        "n_items": len(items),
        "sampling": sampling,  # None: unknown (responses imported from a file)
        "judge": judge,
        "options": options or {},
    }


# Sampling keys that belong to the model, not to the setting: stop strings are a model's
# end-of-turn markers (Llama-3's "<|eot_id|>"), part of its chat format like its template.
MODEL_SPECIFIC = ("stop",)


def shared_sampling(sampling: dict | None) -> dict | None:
    """The sampling settings every compared run must share."""
    if sampling is None:
        return None
    return {k: v for k, v in sampling.items() if k not in MODEL_SPECIFIC}


def differences(a: dict | None, b: dict | None) -> list[str]:
    """Why runs with keys `a` and `b` are not comparable (empty when they are)."""
    if not a or not b:
        return ["a run predates comparability keys; rerun it to compare"]
    reasons = []
    if (a["suite"], a["suite_version"]) != (b["suite"], b["suite_version"]):
        reasons.append(
            f"suite {a['suite']}@{a['suite_version']} vs {b['suite']}@{b['suite_version']}"
        )
    if a["data_sha"] != b["data_sha"]:
        reasons.append(f"different data ({a['n_data']} vs {b['n_data']} items, other contents)")
    if a["items_sha"] != b["items_sha"]:
        reasons.append(f"different items scored ({a['n_items']} vs {b['n_items']}; --limit?)")
    sa, sb = shared_sampling(a["sampling"]), shared_sampling(b["sampling"])
    if sa is None or sb is None:
        if sa != sb:
            reasons.append("sampling settings unknown for imported responses")
    elif sa != sb:
        reasons.append("sampling " + _dict_diff(sa, sb))
    if a.get("judge") != b.get("judge"):
        reasons.append("judge " + _dict_diff(a.get("judge") or {}, b.get("judge") or {}))
    if a.get("options") != b.get("options"):
        reasons.append("options " + _dict_diff(a.get("options") or {}, b.get("options") or {}))
    return reasons


def _dict_diff(a: dict, b: dict) -> str:
    keys = sorted(set(a) | set(b), key=str)
    parts = [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]
    return ", ".join(parts) or "differs"
