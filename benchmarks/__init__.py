"""Benchmarks of the bot server, retrieval and the operator: one command each (see docs/benchmarks.md)."""
