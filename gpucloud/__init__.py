"""gpucloud: infrastructure as code for renting out GPU data-centre capacity."""

__version__ = "0.1.0"
