"""Using a pushed model: scoring a CSV file with its serving signature (`predict`)."""
