"""Handler plugins: the interface, the registry, the built-in timer watchers."""
