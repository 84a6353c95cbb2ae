"""Evaluation of the fleet on public benchmarks (HumanEval): problems as stories on scratch repositories."""
