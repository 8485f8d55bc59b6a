"""The teaching app: a session (one conversation with its belief), play in the terminal, watch, serve."""
