"""Runs: the generate pipeline, its worker processes, run files and the paper's
evaluation."""
