"""Persistence: models, engine and migrations."""
