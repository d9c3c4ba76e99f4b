"""Revisions of the PostgreSQL schema, oldest first (``rev_NNNN_<slug>.py``)."""
