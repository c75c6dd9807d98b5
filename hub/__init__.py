"""Environments Hub: registry, package index and evaluation service for RL environments."""
