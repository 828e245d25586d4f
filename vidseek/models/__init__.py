"""The model runtimes: the registry of model specs, the CLIP encoders (torch, ONNX Runtime,
precisions), the query towers a server runs without torch, CLIP's tokenizer and Whisper.
Imports vidseek.core only; the indexer and the query path both import it."""
