"""Task workers."""
