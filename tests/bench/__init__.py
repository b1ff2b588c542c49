"""Benchmarks, run with `make bench` (never by pytest: timings are not pass/fail)."""
