"""The workspace: a checkout an agent works with tools, every command in a sandbox."""
