"""FollowBench (Jiang et al., ACL 2024): 820 instructions that add one constraint per level (1-5) to a
seed instruction, in six categories (content, situation, style, format, example, mixed).

Scoring is YJiangcm/FollowBench's `code/` (eval.py and what it calls), item for item:

- **Rule-checked** (no judge): the whole example category (the response must fully match the
  item's `target` template, `{answer}` standing for `.*`: `check_match`); every level>0 item whose
  `source` is one of `RULE_SOURCES` (`rule_evaluation_<source>`); format items with example_id 22
  or 30 (`rule_evaluation_format`). A rule item scores 0/1 for all its constraints together, the same
  in HSR and SSR.
- **Judged**: the rest. The judge gets one user message, `judge_prompt(category, instructions of
  levels 0..n, answer)`, the text of `<category>_evaluation_prompt` byte for byte, in a request
  with llm_eval.get_eval's fields only (max_tokens 1024, temperature 0). The reply is read as
  `paring_discriminative_generation` does: the last line after stripping backticks and blanks;
  level 1: 'YES' in it -> satisfied, else 'NO' in it -> not; level n>1: the first `[...]` on it must
  be a Python list of n elements, 'YES' = satisfied, 'NO'/'PARTIAL'/'MAYBE'/'UNKNOWN'/'N/A' = not.
  hard = all satisfied, soft = the satisfied fraction. Where upstream returns -1 ("you must manually
  fix the evaluation", and would add -1 to the sums) the judgment fails here: the item is counted as
  failed and left out of every metric; a rerun asks again. One difference, on purpose: upstream
  `eval()`s the judge's list; we read it with `ast.literal_eval`, so a reply whose list is an
  expression (`['YE' + 'S', 'NO']`) fails instead of being executed.

Metrics (stored as fractions, shown as percent): per category and level, HSR = mean hard and SSR =
mean soft over the scored items (upstream: sums over `n_group` = items per level; the same when
nothing failed). Per level, the mean over the categories (paper Table 2); `hsr_avg` / `ssr_avg` the
mean over levels 1-5 (the headline is `hsr_avg`, Conifer's "FollowBench Avg"); `hsr_hard` the mean of
HSR L4 and L5 (Conifer's "FollowBench Hard"). CSL per category: over examples with all five levels
scored, the mean number of consecutive levels from L1 with hard = 1 (upstream rounds each
category's CSL to 1 decimal; we keep it unrounded); `csl` the mean over categories.

An item's headline contribution is (hard * w, w) with w = 1 / (levels · categories at its level ·
scored items in its category and level), stored in its record as `weight`: the weights sum to 1 and
the weighted sum is exactly `hsr_avg`, so the leaderboard bootstrap (a ratio of sums) resamples the
headline as defined.

Generation: the instruction as the only user message; upstream generates greedily with up to 2048
new tokens and scores the raw text (no stripping); the run's sampling settings apply here.

Judge: `gpt-4`, the judge of the paper's and Conifer's numbers (llm_eval.py used `gpt-4` until
f59785d, 2024-12-05, and `gpt-4o-mini` since); pass `--judge gpt-4o-mini` for today's upstream.
Data: `--data-dir` (or $ECD_HARNESS_DATA) holding the six English `<category>_constraints.json`
files, else the HF dataset `YuxinJiang/FollowBench`; no PyPI package ships them.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import string
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from statistics import mean

from harness import data
from harness.backends import Completion, SamplingParams
from harness.errors import HarnessError
from harness.judges import ParseError, Rubric
from harness.suites.base import Contribution, Generation, Metric, Suite, SuiteResult

CATEGORIES = ("content", "situation", "style", "format", "example", "mixed")
LEVELS = (1, 2, 3, 4, 5)
FIELDS = ("example_id", "category", "source", "level", "instruction", "target")
HUB = "YuxinJiang/FollowBench"
# sources whose items rule_based_evaluation.rule_evaluation checks (in any category but example)
RULE_SOURCES = (
    "E2E",
    "WIKIEVENTS",
    "CONLL2003",
    "text_editing",
    "cnn_dailymail",
    "xsum",
    "samsum",
    "gigaword",
    "arxiv",
    "BBH_logical",
    "BBH_time",
    "self_made_space",
    "gsm_8k",
)
FORMAT_RULE_IDS = (22, 30)  # format items checked by rule_evaluation_format
# what each category's evaluation prompt calls the added constraint
CONSTRAINT = {
    "content": "one content constraint",
    "situation": "one situation constraint (information to describe a specific situation/background)",
    "style": "one style constraint",
    "format": "one format constraint",
    "mixed": "one constraint",
}
NOT_SATISFIED = ("NO", "PARTIAL", "MAYBE", "UNKNOWN", "N/A")


# -- the judge ----------------------------------------------------------------------------------


def _added(n: int) -> str:
    return f"{n} constraint" + ("s" if n > 1 else "")


def judge_prompt(category: str, instructions: list[str], answer: str) -> str:
    """`<category>_evaluation_prompt(evolve_instructions, answer)`: `instructions` are those of
    levels 0..n of one example."""
    n = len(instructions) - 1
    if n == 1:
        head = (
            f"Given an initial instruction, we add {CONSTRAINT[category]} and obtain the final "
            "instruction with 1 additional constraint."
        )
        system = (
            "#System#\n1) Please identify the 1 added constraint.\n2) Please descriminate if the "
            "#Answer of Initial Instruction + 1 constraint# satisfies the 1 added constraint.\n3) "
            "In the final line, only output a Python LIST with 1 element ('YES' or 'NO') "
            "indicating whether the answer satisfies the 1 added constraint."
        )
    else:
        head = (
            f"Given an initial instruction, we add {CONSTRAINT[category]} per time and obtain the "
            f"final instruction with {n} additional constraints."
        )
        system = (
            f"#System#\n1) Please identify all {n} added constraints.\n2) For the {n} added "
            f"constraints, discriminate if the #Answer of Initial Instruction + {n} constraints# "
            f"satisfies each constraint.\n3) In the final line, only output a Python LIST with {n} "
            "elements ('YES' or 'NO') indicating whether the answer satisfies each constraint."
        )
    blocks = [head, "#Initial Instruction#\n" + instructions[0]]
    blocks += [f"#Initial Instruction + {_added(i)}#\n" + instructions[i] for i in range(1, n + 1)]
    blocks += [f"#Answer of Initial Instruction + {_added(n)}#\n" + answer, system]
    return "\n\n".join(blocks)


def parse_judgment(text: str, level: int) -> tuple[int, float, list[int]]:
    """(hard, soft, per-constraint 0/1) from a judge reply, as paring_discriminative_generation
    reads it; what it can't read (its -1) raises ParseError."""
    line = text.strip("`").strip().split("\n")[-1]
    if level == 1:
        if "YES" in line:
            return 1, 1.0, [1]
        if "NO" in line:
            return 0, 0.0, [0]
        raise ParseError(f"no YES or NO in the last line ({line[-80:]!r})")
    found = re.search(r"\[.*\]", line)
    if not found:
        raise ParseError(f"no [...] list in the last line ({line[-80:]!r})")
    try:
        answers = ast.literal_eval(found.group())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ParseError(f"{found.group()[:80]!r} is not a Python list of literals") from None
    if not isinstance(answers, list) or len(answers) != level:
        raise ParseError(f"{found.group()[:80]!r} does not have {level} elements")
    satisfied = []
    for a in answers:
        if a == "YES":
            satisfied.append(1)
        elif a in NOT_SATISFIED:
            satisfied.append(0)
        else:
            raise ParseError(f"element {str(a)[:40]!r} is not 'YES' or 'NO'")
    return int(all(satisfied)), sum(satisfied) / level, satisfied


def _parser(level: int) -> Callable[[Completion], dict]:
    def parse(c: Completion) -> dict:
        hard, soft, satisfied = parse_judgment(c.text, level)
        return {"value": float(hard), "soft": soft, "satisfied": satisfied}

    return parse


# llm_eval.get_eval: model, max_tokens=1024, temperature=0.0, one user message; nothing else
JUDGE_SAMPLING = SamplingParams(max_new_tokens=1024, temperature=0.0, top_p=None, seed=None)
RUBRICS = {
    n: Rubric(f"followbench-discriminative-L{n}", JUDGE_SAMPLING, _parser(n)) for n in LEVELS
}


# -- the rule checks (rule_based_evaluation.py) --------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[.!?]", text) if s]


def _has_word(text: str, word: str) -> bool:
    return re.search(r"\b" + re.escape(word) + r"\b", text) is not None


def _nth(text: str, n: int, test: Callable[[str], bool]) -> bool:
    sentences = _sentences(text)
    return len(sentences) >= n and test(sentences[n - 1])


def _nth_has(text: str, n: int, word: str) -> bool:
    return _nth(text, n, lambda s: _has_word(s, word))


def _words_per_sentence(text: str, test: Callable[[int], bool]) -> bool:
    return all(test(len(s.split())) for s in _sentences(text))


def _spaced(text: str) -> int:
    return len(text.split(" "))


def _one_sentence(text: str) -> bool:
    return len(_sentences(text)) == 1


_PUNCTUATION = frozenset(string.punctuation)

# constraint k of each source; level n must satisfy the first n (upstream's if/elif ladders)
LADDERS: dict[str, tuple[Callable[[str], bool], ...]] = {
    "cnn_dailymail": (
        lambda g: len(_sentences(g)) == 3,
        lambda g: _words_per_sentence(g, lambda n: n < 15),
        lambda g: _nth_has(g, 1, "Potter") and _nth_has(g, 2, "actor") and _nth_has(g, 3, "films"),
        lambda g: not _nth_has(g, 2, "lavish"),
        lambda g: _nth(g, 3, lambda s: re.search(r"\b(has|have)\s+\w+", s) is not None),
    ),
    "xsum": (
        _one_sentence,
        lambda g: _spaced(g) < 20,
        lambda g: not _has_word(g, "Newton Stewart"),
        lambda g: re.search(r"\b(am|is|are)\s+\w+ing\b", g) is not None,
        lambda g: _has_word(g, "operation"),
    ),
    "samsum": (
        _one_sentence,
        lambda g: _spaced(g) < 15,
        lambda g: _has_word(g, "stuff"),
        lambda g: re.search("procrast", g, re.IGNORECASE) is None,
        lambda g: sum(c in _PUNCTUATION for c in g) == 1,
    ),
    "gigaword": (
        lambda g: _spaced(g) == 8,
        lambda g: not any(c in _PUNCTUATION for c in g),
        str.islower,
        lambda g: not _has_word(g, "bus"),
        lambda g: _has_word(g, "in"),
    ),
    "arxiv": (
        _one_sentence,
        lambda g: _spaced(g) <= 20,
        lambda g: g[:2] == "We",
        lambda g: _has_word(g, "activations"),
        lambda g: not _has_word(g, "transformer"),
    ),
}


def _last(pattern: str, text: str) -> str | None:
    found = re.findall(pattern, text)
    return found[-1] if found else None


@functools.lru_cache(maxsize=256)
def _literal(target: str):
    return ast.literal_eval(target)


ANSWER_CHECKS: dict[str, Callable[[str, str], bool]] = {  # (generation, target) -> verdict
    "E2E": lambda g, t: g == t,
    "text_editing": lambda g, t: g == t,
    "WIKIEVENTS": lambda g, t: all(line in t.split("\n") for line in g.split("\n")),
    "CONLL2003": lambda g, t: g in _literal(t),
    "BBH_logical": lambda g, t: _last(r"\([A-Z]\)", g) == t,
    "BBH_time": lambda g, t: _last(r"\d{2}/\d{2}/\d{4}", g) == t,
    "self_made_space": lambda g, t: t in g,
    "gsm_8k": lambda g, t: _last(r"\$\d+", g) == t,
}


def _paragraphs_numbered(text: str) -> bool:
    paragraphs = (p.lstrip() for p in text.split("\n\n"))
    return all(re.match(r"\d+\.", p) for p in paragraphs if p)


def _format_22(g: str, level: int) -> bool:
    paragraphs = g.split("\n\n")
    short = lambda: all(len(_sentences(p)) < 3 for p in paragraphs[:3])  # noqa: E731
    rules = [
        lambda: len(paragraphs) == (4 if level == 5 else 3),
        short,
        lambda: _words_per_sentence(g, lambda n: n > 20),
        lambda: _paragraphs_numbered(g),
        lambda: g.endswith("Those are suggestions"),
    ]
    return all(rule() for rule in rules[:level])


_SENTENCE_END = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?)\s")


def _format_30(g: str, level: int) -> bool:
    sentences = _SENTENCE_END.split(g)
    numbered = [s for s in sentences if any(f"{k}." in s for k in range(1, 6))]
    rules = [
        "**" in g,
        len(re.findall(r"\*\*[\d].+?:", g)) == 5,
        all(len(s.split(".")) < 3 for s in numbered),
        all(10 <= len(s.split()) <= 15 for s in sentences),
        all(not w.endswith("-ly") for s in sentences for w in s.split()),
    ]
    return all(rules[:level])


@functools.lru_cache(maxsize=512)
def _template(target: str) -> re.Pattern:
    """check_match's pattern: the target without its instruction, `{answer}` -> `.*`."""
    text = target.replace("{instruction}\n", "").replace("{{", "{").replace("}}", "}")
    return re.compile(re.escape(text.replace("{answer}", ".*")).replace("\\.\\*", ".*"))


def rule_verdict(item: dict, generation: str) -> bool:
    """The rule-based verdict of a rule-checked item (`item["method"]` != "judge")."""
    method, level = item["method"], item["level"]
    if method == "template":
        return _template(item["target"]).fullmatch(generation) is not None
    if method == "format":
        return (_format_22 if item["example_id"] == 22 else _format_30)(generation, level)
    source = item["source"]
    if source in LADDERS:
        return all(check(generation) for check in LADDERS[source][:level])
    return bool(ANSWER_CHECKS[source](generation, item["target"]))


def method_of(category: str, row: dict) -> str:
    """How FollowBench scores a level>0 row of `<category>_constraints.json`."""
    if category == "example":
        return "template"
    if row["source"] in RULE_SOURCES:
        return "rule"
    if row["category"] == "format" and row["example_id"] in FORMAT_RULE_IDS:
        return "format"
    return "judge"


# -- data ---------------------------------------------------------------------------------------


def _item_name(category: str, row) -> str:
    if isinstance(row, dict):
        return f"{category}:{row.get('example_id', '?')}:{row.get('level', '?')}"
    return f"{category}:?"


def _items(category: str, rows, origin: str) -> list[dict]:
    """A category file's level 1-5 rows as items; each carries the instructions of levels 0..n of
    its example, gathered as acquire_discriminative_eval_input does (consecutive rows of one
    example_id, in file order)."""
    if not isinstance(rows, list):
        raise HarnessError(f"{origin}: expected a JSON list of items")
    first = 0 if category != "example" else 1
    items, chain, example = [], [], None
    for n, row in enumerate(rows):
        where = f"{origin}: item {_item_name(category, row)} (entry {n + 1})"
        if not isinstance(row, dict):
            raise HarnessError(f"{where}: expected a JSON object")
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise HarnessError(f"{where}: lacks {', '.join(missing)}")
        level = row["level"]
        expected = first + n % (6 - first)
        if not isinstance(level, int) or isinstance(level, bool) or level != expected:
            raise HarnessError(
                f"{where}: level {level!r} where level {expected} belongs (each example lists "
                f"levels {first}-5 in order)"
            )
        if not isinstance(row["instruction"], str) or not isinstance(row["target"], str):
            raise HarnessError(f"{where}: instruction and target must be strings")
        if not isinstance(row["source"], str) or not isinstance(row["category"], str):
            raise HarnessError(f"{where}: source and category must be strings")
        if level == first:
            example, chain = row["example_id"], []
        elif row["example_id"] != example:
            raise HarnessError(
                f"{where}: example_id {row['example_id']!r} inside example {example!r}'s levels"
            )
        chain.append(row["instruction"])
        if level == 0:
            continue
        if not row["instruction"].strip():
            raise HarnessError(f"{where}: empty instruction")
        method = method_of(category, row)
        if method == "rule" and row["source"] == "CONLL2003":
            try:
                _literal(row["target"])
            except (ValueError, SyntaxError):
                raise HarnessError(f"{where}: target is not a Python literal list") from None
        item = {
            "id": f"{category}:{row['example_id']}:{level}",
            "category": category,
            "example_id": row["example_id"],
            "level": level,
            "source": row["source"],
            "method": method,
            "instruction": row["instruction"],
            "target": row["target"],
        }
        if method == "judge":
            item["instructions"] = list(chain)
        items.append(item)
    return items


def _read_category(path: Path, category: str) -> list[dict]:
    text = data.read_text(path, "FollowBench data file")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    return _items(category, rows, str(path))


def _check_ids(items: list[dict], origin: str) -> list[dict]:
    seen = set()
    for it in items:
        if it["id"] in seen:
            raise HarnessError(f"{origin}: item {it['id']} appears more than once")
        seen.add(it["id"])
    return items


def _from_dir(folder: Path) -> list[dict]:
    missing = [c for c in CATEGORIES if not (folder / f"{c}_constraints.json").is_file()]
    if missing:
        raise HarnessError(
            f"{folder}: lacks {', '.join(f'{c}_constraints.json' for c in missing)} (FollowBench's "
            "data/ folder holds the six English files)"
        )
    items = [it for c in CATEGORIES for it in _read_category(folder / f"{c}_constraints.json", c)]
    return _check_ids(items, str(folder))


def _from_hub() -> list[dict]:
    from huggingface_hub import snapshot_download

    root = Path(snapshot_download(HUB, repo_type="dataset", allow_patterns=["*_constraints.json"]))
    english = [p for p in sorted(root.rglob("content_constraints.json")) if "zh" not in str(p)]
    if not english:
        raise HarnessError(f"HF dataset {HUB}: no English content_constraints.json found")
    return _from_dir(english[0].parent)


def _load(data_dir) -> tuple[list[dict], str]:
    folder = data.local_dir(data_dir, "followbench")
    if folder is not None:
        return _from_dir(folder), str(folder)
    if data.hub_reachable():
        return _from_hub(), "hub"
    raise HarnessError(
        f"no followbench data: pass --data-dir (or set ${data.DATA_ENV}) to a folder with "
        f"FollowBench's six <category>_constraints.json files, or go online for the HF dataset "
        f"{HUB} (no PyPI package ships them)"
    )


# -- aggregation --------------------------------------------------------------------------------


def aggregate(records: list[dict]) -> tuple[dict, dict, list[str]]:
    """Metrics, breakdown and notes from scored records (`hard`, `soft` set); sets each record's
    `weight` (its share of the headline)."""
    cells: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in records:
        if r.get("hard") is not None:
            cells[(r["category"], r["level"])].append(r)
    categories = [c for c in CATEGORIES if any((c, L) in cells for L in LEVELS)]
    levels = [L for L in LEVELS if any((c, L) in cells for c in CATEGORIES)]
    hsr: dict[str, dict[str, float]] = {c: {} for c in categories}
    ssr: dict[str, dict[str, float]] = {c: {} for c in categories}
    scored: dict[str, dict[str, int]] = {c: {} for c in categories}
    metrics: dict[str, float] = {}
    for L in levels:
        present = [c for c in CATEGORIES if (c, L) in cells]
        for c in present:
            rows = cells[(c, L)]
            hsr[c][f"L{L}"] = mean(r["hard"] for r in rows)
            ssr[c][f"L{L}"] = mean(r["soft"] for r in rows)
            scored[c][f"L{L}"] = len(rows)
            for r in rows:
                r["weight"] = 1.0 / (len(levels) * len(present) * len(rows))
        metrics[f"hsr_l{L}"] = mean(hsr[c][f"L{L}"] for c in present)
        metrics[f"ssr_l{L}"] = mean(ssr[c][f"L{L}"] for c in present)
    if levels:
        metrics["hsr_avg"] = mean(metrics[f"hsr_l{L}"] for L in levels)
        metrics["ssr_avg"] = mean(metrics[f"ssr_l{L}"] for L in levels)
    hard_levels = [L for L in (4, 5) if L in levels]
    if hard_levels:
        metrics["hsr_hard"] = mean(metrics[f"hsr_l{L}"] for L in hard_levels)

    # CSL: consecutive satisfied levels from L1, over examples with all five levels scored
    chains: dict[tuple[str, object], dict[int, int]] = defaultdict(dict)
    for r in records:
        chains[(r["category"], json.dumps(r["example_id"]))][r["level"]] = r.get("hard")
    csl, csl_n, left_out = {}, {}, 0
    for c in CATEGORIES:
        counts = []
        for (cat, _), by_level in chains.items():
            if cat != c:
                continue
            if any(by_level.get(L) is None for L in LEVELS):
                left_out += 1
                continue
            count = 0
            for L in LEVELS:
                if by_level[L] != 1:
                    break
                count += 1
            counts.append(count)
        if counts:
            csl[c], csl_n[c] = sum(counts) / len(counts), len(counts)
    if csl:
        metrics["csl"] = mean(csl.values())
    notes = []
    if left_out:
        notes.append(
            f"CSL is over the {sum(csl_n.values())} examples with all five levels scored; "
            f"{left_out} with a level missing or failed are left out of it"
        )
    breakdown = {"hsr": hsr, "ssr": ssr, "csl": csl, "scored": scored, "csl_examples": csl_n}
    return metrics, breakdown, notes


# -- the suite ----------------------------------------------------------------------------------


class FollowBench(Suite):
    name = "followbench"
    version = "1"
    generation = Generation(2048, 0.0, "FollowBench model_inference: greedy, 2048 new tokens")
    metrics = (  # HSR/SSR stored as fractions, shown as percent; CSL in levels (0-5)
        Metric("hsr_avg", "FollowBench HSR", 100.0, "%"),
        Metric("ssr_avg", "SSR", 100.0, "%"),
        Metric("hsr_hard", "HSR L4-L5", 100.0, "%"),
        Metric("csl", "CSL", 1.0, "levels"),
        *(Metric(f"hsr_l{L}", f"HSR L{L}", 100.0, "%", in_tables=False) for L in LEVELS),
        *(Metric(f"ssr_l{L}", f"SSR L{L}", 100.0, "%", in_tables=False) for L in LEVELS),
    )
    item_scale = 100.0  # an item's (hard * weight, weight): weights make the headline exact
    paired_test = "bootstrap"  # weighted items, not a plain pass rate
    unit = "items"
    # the judge of the paper's and Conifer's numbers; upstream's llm_eval.py asks gpt-4o-mini since
    # 2024-12-05 (`--judge gpt-4o-mini` for that)
    default_judge = "gpt-4"

    def load(self, data_dir=None) -> list[dict]:
        items, self.source = _load(data_dir)
        return items

    def prompts(self, item: dict) -> list[str]:
        return [item["instruction"]]

    def contribution(self, record: dict) -> Contribution:
        hard, weight = record.get("hard"), record.get("weight")
        if hard is None or weight is None:
            return None
        return float(hard) * weight, weight

    def run(self, items, ctx) -> SuiteResult:
        if ctx.judge is None and any(it["method"] == "judge" for it in items):
            raise HarnessError("followbench needs a judge: pass --judge (default gpt-4)")
        conversations = [[{"role": "user", "content": it["instruction"]}] for it in items]
        completions = ctx.generate(conversations, desc="generating followbench")
        errors = [None if c.ok else f"generation failed: {c.error}" for c in completions]
        return self.score(items, [c.text for c in completions], ctx.judge, errors)

    def judge_messages(self, item: dict, response: str) -> list[dict]:
        """The judge's conversation for a judged item: one user message, llm_eval's."""
        prompt = judge_prompt(item["category"], item["instructions"], response)
        return [{"role": "user", "content": prompt}]

    def score(self, items, responses, judge=None, errors=None) -> SuiteResult:
        """Rule verdicts and judgments for every answered item; an item whose generation or
        judgment failed is recorded with its reason and left out of every metric."""
        errors = list(errors or [None] * len(items))
        judged = [i for i, it in enumerate(items) if errors[i] is None and it["method"] == "judge"]
        if judged and judge is None:
            raise HarnessError("followbench needs a judge: pass --judge (default gpt-4)")
        verdicts = {}
        for level in LEVELS:
            idx = [i for i in judged if items[i]["level"] == level]
            if not idx:
                continue
            convs = [self.judge_messages(items[i], responses[i]) for i in idx]
            desc = f"judging followbench L{level}"
            verdicts.update(zip(idx, judge.judge(convs, RUBRICS[level], desc)))
        records = []
        for i, it in enumerate(items):
            rec = {
                "id": it["id"],
                "category": it["category"],
                "example_id": it["example_id"],
                "level": it["level"],
                "source": it["source"],
                "method": it["method"],
                "instruction": it["instruction"],
                "response": responses[i] if errors[i] is None else None,
                "hard": None,
                "soft": None,
            }
            if errors[i] is not None:
                rec["error"] = errors[i]
            elif it["method"] == "judge":
                v = verdicts[i]
                rec["judgment"] = v.output
                if v.ok:
                    rec.update(
                        hard=int(v.value), soft=v.detail["soft"], satisfied=v.detail["satisfied"]
                    )
                else:
                    rec["error"] = f"judgment failed: {v.error}"
            else:
                ok = int(rule_verdict(it, responses[i]))
                rec.update(hard=ok, soft=float(ok))
            records.append(rec)
        metrics, breakdown, notes = aggregate(records)
        if judge is not None:
            metrics.update(judge.metrics())
            notes.insert(0, judge.summary())
        failed = sum(1 for r in records if r["hard"] is None)
        return SuiteResult(metrics, records, breakdown, notes, total=len(items), failed=failed)

    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list[str]]:
        """JSONL, one response per line: FollowBench's api_output rows (`{"prompt", "choices":
        [{"message": {"content"}}]}`, the six category files concatenated or any of them),
        `{"prompt", "response"}`, or `{"id", "response"}` with our item ids. A prompt is matched to
        the level 1-5 instruction it equals, as upstream's data_match_api_output does."""
        by_prompt = {it["instruction"]: it for it in items}
        by_id = {it["id"]: it for it in items}
        chosen, responses = [], []
        for n, row in enumerate(data.read_jsonl(path), 1):
            if "choices" in row and "prompt" in row:
                try:
                    resp = row["choices"][0]["message"]["content"]
                except (LookupError, TypeError):
                    raise HarnessError(f"{path}:{n}: choices[0].message.content missing") from None
                item = by_prompt.get(row["prompt"])
            elif "response" in row and ("prompt" in row or "id" in row):
                resp = row["response"]
                item = by_id.get(str(row["id"])) if "id" in row else by_prompt.get(row["prompt"])
            else:
                raise HarnessError(
                    f'{path}:{n}: expected FollowBench\'s {{"prompt", "choices"}}, '
                    '{"prompt", "response"} or {"id", "response"}'
                )
            if item is None:
                raise HarnessError(
                    f"{path}:{n}: not a FollowBench level 1-5 instruction of the loaded data"
                )
            if not isinstance(resp, str):
                raise HarnessError(f"{path}:{n}: response is not a string")
            chosen.append(item)
            responses.append(resp)
        if len({it["id"] for it in chosen}) != len(chosen):
            raise HarnessError(f"{path}: an instruction is answered more than once")
        return chosen, responses
