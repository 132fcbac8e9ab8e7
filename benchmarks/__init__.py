"""Benchmark scripts and the synthetic pipelines they (and the tests) use."""
