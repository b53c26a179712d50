"""Helpers for the examples' conformance test (tests/test_examples.py) and bench/examples_table.py."""
