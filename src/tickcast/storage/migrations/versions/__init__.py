"""Revisions of the SQL schema, oldest first (``rev_NNNN_<slug>.py``), for both databases."""
