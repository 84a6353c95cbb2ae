"""Fault injection across the whole flow: real processes, a traffic driver, poison, and a checker."""
