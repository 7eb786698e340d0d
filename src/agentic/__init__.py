"""Agentic: build, run and watch LLM agents as durable tasks."""

__version__ = "0.1.0"
