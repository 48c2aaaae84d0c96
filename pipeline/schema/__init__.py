"""The `schema` commands' work: TFDV's inference and drift, compared with the curated schema."""
