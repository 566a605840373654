"""Tenants: onboarding (validate, allocate, render, write atomically), listing and offboarding."""
