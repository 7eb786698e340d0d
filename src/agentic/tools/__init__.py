"""Built-in agent tools (outbound HTTP with an SSRF guard, ...), each safe by default."""
