"""Vega data-node compatibility (``/api/v2/stream/*``): pure parts of the dialect.

``ids`` (64-hex ids), ``jsonpb`` (stream vs REST JSON rules), ``filters`` (query parameters),
``encode`` (events → stream items), ``paging`` (snapshot pages, update chunks), ``blocks``
(per-block batching), ``depth`` (depth updates with sequence numbers), ``accounts`` (the
documented account/margin/ledger model), ``errors`` (error lines). docs/dialects/vega.md.
"""
