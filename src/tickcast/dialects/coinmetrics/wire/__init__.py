"""The Coin Metrics API v4 dialect (sans-I/O): ``/v4/timeseries-stream/*`` and the REST surface.

Modules: ``framing`` (records with a per-connection ``cm_sequence_id`` splice point), ``errors``
(error and warning bodies), ``query`` (query-string parsing and value checks), ``streams``
(stream requests → bus streams and encoders), ``encoders`` (events → records), ``derive`` (the
derived quantities: aggregated quotes, open interest, liquidations), ``rest`` (time ranges,
paging, response bodies) and ``reference`` (reference data and catalogue rows).
"""
