"""Queries: encode, search each modality's index and the full text, fuse, merge in time,
align clips. Imports vidseek.core, vidseek.models' query protocol and search.storage."""
