"""Remote functions: register, serve, find and call."""
