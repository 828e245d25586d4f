"""The Flask app: JSON API and web UI over the search service."""
