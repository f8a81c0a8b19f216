"""Benchmarks (`make bench`): each prints a table and writes bench/results/<name>.json.

Goals are checked here, as ratios against a baseline measured in the same run, never in tests.
"""
