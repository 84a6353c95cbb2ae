"""The decision graph: its vocabulary (`schema`), the write model, and the stores that hold it."""
