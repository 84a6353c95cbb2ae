"""The sentinel service: one durable per stream that dead-letters what no consumer can decode."""
