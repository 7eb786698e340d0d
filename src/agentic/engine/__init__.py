"""The durable task engine: the database is the only source of truth for task state (ADR 0003)."""
