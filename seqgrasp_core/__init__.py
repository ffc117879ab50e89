"""seqgrasp core: the hand-agnostic engine for sequential multi-object dexterous grasps.

The core holds no hand-specific code and never imports the CLI or a plugin; hands,
energy terms, validators and hardware backends arrive through the plugin manager
(:mod:`seqgrasp_core.plugins.manager`).
"""

__version__ = "0.1.0"
