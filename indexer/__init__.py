"""Media in, vectors out: discover files, decode them in isolation, sample frames, hear and read
them, and hand each file's segments to the store writer; executors decide where a file's
analysis runs. Imports vidseek.core, vidseek.models and vidseek.search."""
