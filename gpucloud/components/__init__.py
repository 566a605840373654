"""Pulumi components, one per module: each takes what it depends on and tags every child."""
