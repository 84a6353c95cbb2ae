"""The Context service: the decision graph, its cache, and surgical context for agents."""
