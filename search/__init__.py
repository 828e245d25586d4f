"""The library's data and its queries, in three layers: storage (SQL and FAISS), queries
(search, fusion, moments in time) and labels (vocabulary, learned labels, chapters); this
package's own modules (moments) present their results. Imports vidseek.core and
vidseek.models (the query encoder's protocol), never the indexer, the library or the web."""
