"""The board's web pages, its client of the fleet's HTTP API and its view of the backbone."""
