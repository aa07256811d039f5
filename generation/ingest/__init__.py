"""All-or-nothing import of samples from JSONL, JSON arrays, CSV and Parquet."""
