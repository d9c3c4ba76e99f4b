"""Durable tick history (issue 17): every sequenced event, queryable and replayable.

Sans-I/O: ``rows`` (row encoding), ``books`` (checkpoints and rebuilding a book at any time),
``retention`` (per stream kind), ``plan`` (time travel into live). I/O: ``sqlite`` (embedded,
default), ``postgres`` (clusters), ``writer`` (batches on a thread), ``service`` (the one
interface the server uses), ``factory`` (URL to store).
"""
