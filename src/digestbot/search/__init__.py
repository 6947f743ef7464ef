"""Finding papers: the query parser (query) and the SQLite FTS5 index (index)."""
