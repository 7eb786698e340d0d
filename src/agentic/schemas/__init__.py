"""The API contract: Pydantic models for requests and responses."""
