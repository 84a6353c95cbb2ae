"""The benchmark run: problems through a solver, hidden tests afterwards, one outcome per problem."""
