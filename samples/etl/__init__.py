"""Step code of the ETL sample (samples/etl.yaml): small, real, dependency-free."""
