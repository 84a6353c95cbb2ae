"""Hosting services in a process: the parts a service hands over, and the host that runs them."""
