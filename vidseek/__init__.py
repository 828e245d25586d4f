"""vidseek: semantic video search over what is seen, said and heard.

The layers, bottom to top (tests/test_layers.py checks that imports only flow down):
vidseek.core, vidseek.models, vidseek.search (storage, queries, labels), vidseek.indexer,
vidseek.library (the one door), vidseek.web, and at the top the entry points in this folder
(cli, docs), which may import every layer."""

__version__ = "0.1.0"
