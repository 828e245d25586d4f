"""Labels and chapters on stored vectors: the vocabulary, learned labels, their SQL side.
Imports vidseek.core, search.storage and search.queries."""
