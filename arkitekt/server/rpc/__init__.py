"""Remote functions on the server: the models, the agent/caller gateway and the broker."""
