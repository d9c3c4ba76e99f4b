"""The only package doing network I/O or importing the web framework and uvicorn."""
