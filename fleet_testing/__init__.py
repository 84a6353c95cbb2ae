"""Test support that is not part of the product: the fault-injection suite and the agents' stand-in.

Outside `src/`, so never installed with the wheel; tests, `make chaos` and the benchmarks import it
from the repository root.
"""
