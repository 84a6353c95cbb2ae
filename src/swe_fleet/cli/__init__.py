"""The `fleet` command line (Typer)."""
