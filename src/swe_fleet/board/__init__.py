"""The Product Owner's board: server-rendered pages over the fleet's HTTP API and backbone (ADR 1000)."""
