"""What the board needs from the rest of the fleet, as ports."""
