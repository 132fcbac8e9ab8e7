"""frontends of transpile."""
