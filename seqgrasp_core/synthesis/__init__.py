"""Grasp synthesis: the energy's state and terms, annealed MALA, refinement, best-of-K,
initialization, opposition spaces and Algorithm 1."""
