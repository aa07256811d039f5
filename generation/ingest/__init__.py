"""Reading an import's rows (JSONL, JSON arrays, CSV, Parquet) and mapping them to samples;
generation/services/imports.py stores them, all or nothing, through services/import_sinks.py."""
