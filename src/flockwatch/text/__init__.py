"""Text normalisation shared by every detector that reads agent-written prose."""
