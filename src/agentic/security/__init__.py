"""Security primitives."""
