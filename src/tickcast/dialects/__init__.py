"""Sans-I/O wire formats: inbound text becomes commands, envelopes become frames."""
