"""The review rules: objective checks, the prompt, the verdict."""
