"""vidseek: semantic video search over what is seen, said and heard."""

__version__ = "0.1.0"
