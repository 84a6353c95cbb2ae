"""The agent worker's use cases: answer a command (context, prompt, LLM, repairs), publish the answer."""
