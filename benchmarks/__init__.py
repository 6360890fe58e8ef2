"""Throughput benchmarks (``python -m benchmarks NAME [options]``); never run as timed tests.

Each benchmark prints human-readable lines and, as its **last** line, ``<metric>=<float>``.
"""
