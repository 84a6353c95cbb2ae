"""What the board shows, as plain data: columns, identities, councils and graph pictures."""
