"""The Flask app: JSON API and web UI over the library. Imports vidseek.library (the one door),
vidseek.core, and the plain result types of vidseek.search."""
