"""Artificial-streaming early warning: thresholds for the SQL models, reading the risk marts."""
