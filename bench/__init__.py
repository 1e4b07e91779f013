"""Benchmarks: run by hand (``python -m bench.<name>``), never by CI or the test suite."""
