"""Media in, vectors out: discover files, decode, sample frames, transcribe, embed."""
