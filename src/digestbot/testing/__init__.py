"""Test doubles shipped beside the real adapters: fakes for tests and benchmarks."""
