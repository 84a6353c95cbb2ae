"""The Context service's use cases: projecting events into the graph, assembling contexts."""
