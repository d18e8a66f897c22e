"""Leaderboards: measured scores from the store beside published numbers, and paired comparisons."""
