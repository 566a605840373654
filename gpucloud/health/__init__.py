"""Node-side GPU health: is this node what we sell, and fit to hand over?

Imports neither Pulumi nor Ansible (nor Jinja): a bare GPU node installs only ``pip install gpucloud``.
NVML is reached through ``gpucloud.health.nvml`` alone; the checks are plain functions of its facts.
"""
