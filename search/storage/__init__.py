"""Storage: the SQL database and its schema, the catalogue of videos, the segment table, the
model state, and one FAISS index per modality kept in line with SQL.
Imports vidseek.core only."""
