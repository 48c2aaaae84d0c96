"""Benchmarks: developer tooling, outside the runtime packages (`python -m benchmarks`, `make bench`).

They measure the pipeline from outside, by running `python -m pipeline run` in
fresh processes; the runtime never imports this package.
"""
