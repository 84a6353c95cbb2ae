"""`fleet demo`: the embedded fleet, one story driven from creation to dispatched tasks, and the proof."""
