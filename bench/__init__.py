"""Benchmarks: measured figures for the README, run by `make bench` / `cxpulse bench`, never timed tests."""
