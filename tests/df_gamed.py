"""A stand-in for alpaca_eval's df_gamed.csv (HF dataset tatsu-lab/alpaca_eval, not reachable in
tests): its columns, with per-instruction difficulties that the gamed models' preferences depend
on, so the length-controlled GLM learns a difficulty weight and which instruction a row is
matched to changes the LC win rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_df_gamed(path: Path, n: int = 805) -> Path:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(size=n)
    frames = []
    for name, shift in (("gpt4_1106_preview_verbose", 1.0), ("gpt4_1106_preview_concise", -1.0)):
        std_delta_len = rng.normal(loc=shift, size=n)
        logit = -2.0 * difficulty - np.tanh(std_delta_len) + rng.normal(scale=0.3, size=n)
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "index": range(n),
                    "instruction_difficulty": difficulty,
                    "preference": 1 / (1 + np.exp(-logit)),
                    "std_delta_len": std_delta_len,
                    "not_gamed_baseline": False,
                }
            )
        )
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path
