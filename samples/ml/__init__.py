"""Model steps of the ETL sample."""
