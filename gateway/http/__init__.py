"""The HTTP edge: the only room that sees aiohttp's requests and responses.

`app` builds the public app and its services; `admin` the admin listener (health, readiness,
metrics); `connections` the listener's own limits (header size, idle and slow clients). Every
route handler is wrapped by `request_id` (the request id, the one `head.request_head` reading of
the request line and headers into a gateway.request.RequestHead, the access log). `ddm` adapts
the DDM catch-all route to pipeline/ddm.py; `iam` and `usage` are thin handlers over authn's
Authenticator and the IAM services (gateway/iam/). `body` is the one bounded body reader
(size, time, the process budget) for every caller; `respond` turns a GatewayError into the
documented response; `relay` writes an UpstreamResponse (whole or streamed) to the client;
`expect` answers `Expect: 100-continue`; `client_ip` picks the source IP (trusted proxies).
"""
