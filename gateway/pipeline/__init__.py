"""The DDM request pipeline, one small module per phase; `ddm.py` is the one place that knows
the order. Request phases: routing, authenticate, ratelimit, enterprise (placement), authorize;
the proxy phase (forward: the client's request as an OutgoingRequest for proxy/); response
phases over the proxy's UpstreamResponse: filter (lists), normalize (error shapes), relay (the
one writer of an upstream answer to the client)."""
