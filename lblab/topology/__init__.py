"""Topology files: the model (``model``), loading (``load``) and cross-field checks (``checks``)."""
