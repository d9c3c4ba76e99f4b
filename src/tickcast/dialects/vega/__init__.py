"""The Vega data-node dialect (docs/dialects/vega.md): ``wire`` (sans-I/O) and ``endpoint``."""
