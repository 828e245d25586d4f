"""The ground floor: errors, settings, files written whole, each process's temporary folder,
and the plain records that flow between layers. Imports nothing of vidseek's above it."""
