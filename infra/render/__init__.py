"""One renderer per output format, shared by check, diff and audit."""
