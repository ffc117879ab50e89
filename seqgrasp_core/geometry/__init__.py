"""Poses, rigid transforms and boxes in the batch-last layout the engine uses."""
