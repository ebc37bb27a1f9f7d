"""Benchmarks (`make bench`): not part of the test run; they print figures."""
