"""Adapters that speak other registries' wire protocols over the hub's own services."""
