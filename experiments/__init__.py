"""One experiment spec, from ECD data to the ablation report: `python -m experiments plan|run`.

spec (YAML) -> dag (content-addressed steps, estimates) -> executors (local, Ray) -> steps
(generation, training, harness, leaderboards, reports through their own APIs), each step marked
done in the harness store.
"""
