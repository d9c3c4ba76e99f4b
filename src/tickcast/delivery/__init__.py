"""Sequencing, bounded history, resume planning and the per-connection outbox. Pure."""
