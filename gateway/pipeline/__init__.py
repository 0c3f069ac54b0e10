"""The DDM request pipeline, one small module per phase over plain values (gateway.request's
RequestHead and RequestBody; no aiohttp here); `ddm.py` is the one place that knows the order.
Request phases: routing, authenticate (authn's Authenticator), ratelimit, enterprise
(placement), authorize; the proxy phase (forward: the request as an OutgoingRequest for
proxy/); response phases over the proxy's UpstreamResponse: filter (lists), normalize (error
shapes), then the edge's relay (gateway/http/relay.py, through the `Exchange` ddm.py is given)."""
