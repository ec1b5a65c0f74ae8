"""Reference solutions: the same modules and public names as `exercises/`, written to be read after you pass."""
