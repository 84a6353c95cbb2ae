"""The model, the story source and the publisher behind the reviewer's ports."""
