"""Capacity we hold and how a tenant's share of it is carved out and shared with its account alone."""
