"""Helpers shared by the functional tests and the benchmark scripts in tools/."""
