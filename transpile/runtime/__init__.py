"""runtime of transpile."""
