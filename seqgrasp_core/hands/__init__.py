"""Hands: the plugin's data (HandSpec), its collision primitives, kinematics, contact
sampling and the differentiable HandModel."""
