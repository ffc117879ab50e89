"""SeqDiffuser: a conditional diffusion sampler of sequential grasps (paper §VI)."""
