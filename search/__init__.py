"""The store and the queries: SQL metadata, FAISS indexes, ranking and fusion."""
