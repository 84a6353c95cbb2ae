"""Pure logic of the benchmark: problems, the files made from them, verdicts and pass@1."""
