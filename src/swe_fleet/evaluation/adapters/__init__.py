"""Where problems come from, the scratch git repositories, the hidden-test runner, the solvers."""
