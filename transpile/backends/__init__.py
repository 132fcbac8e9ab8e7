"""backends of transpile."""
