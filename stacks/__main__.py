"""Pulumi program of every gpucloud stack: the stack's config says whether it is a region or a tenant."""

from gpucloud.program import main

main()
