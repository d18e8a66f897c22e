"""Package data: the shipped taxonomy of evolution operations and the seed sample."""
