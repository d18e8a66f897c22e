"""SFT + DPO recipes on TRL; finished checkpoints are registered for `python -m harness`."""
