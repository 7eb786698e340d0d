"""Webhooks: task events signed per Standard Webhooks and delivered durably (outbox → dispatcher)."""
