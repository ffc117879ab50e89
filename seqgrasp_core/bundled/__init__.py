"""The plugins bundled with seqgrasp (the energy terms, the physics validators),
written like any third-party plugin against :mod:`seqgrasp_core.api`."""
