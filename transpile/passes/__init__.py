"""passes of transpile."""
