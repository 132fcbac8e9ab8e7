"""ir of transpile."""
