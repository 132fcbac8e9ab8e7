"""Code review helpers: graphs of a pipeline and meaningful diffs between versions."""
