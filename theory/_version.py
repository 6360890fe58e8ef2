"""The toolkit's version (one place; ``pyproject.toml`` reads it, every package re-exports it)."""

__version__ = "0.2.0"
