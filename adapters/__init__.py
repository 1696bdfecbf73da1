"""Adapters that put events on the topics: the demo simulator and recorded-traffic replay."""
