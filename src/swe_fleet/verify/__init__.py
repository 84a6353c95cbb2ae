"""`fleet verify`: the field report's checklist as a command, against any deployment."""
