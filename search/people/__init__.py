"""People: face tracks grouped by likeness into people the user names, merges, splits, hides
and forgets, and the moments a person is on screen. Imports vidseek.core, search.storage,
search.queries and search.labels."""
