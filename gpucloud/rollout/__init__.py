"""Rollouts: stacks in waves (canary first, regions before their tenants), halting on failure, resumable."""
