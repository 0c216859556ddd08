"""Latency / throughput harness for livefilter (`livefilter bench`)."""
