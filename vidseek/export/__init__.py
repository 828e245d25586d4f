"""Making things from what was found: a clip cut from a video, a reel of a search's moments,
a playlist that plays them from the originals. Files are written whole (vidseek/core/files.py).
Imports vidseek.core."""
