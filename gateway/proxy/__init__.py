"""The proxy: talks to DDM only. `client.UpstreamClient.forward(OutgoingRequest)` returns an
`answer.UpstreamResponse` (whole body or a stream, plus release); retries and re-signing
(`upstream_auth`, `token_auth`) happen inside. It never sees the client's aiohttp request or
response: the pipeline's proxy phase builds the OutgoingRequest and the edge relays the answer
(a test checks that no module here imports aiohttp.web or anything above).

Import from the modules themselves: `client.UpstreamClient`, `upstream_auth.upstream_auth_from_config`
(and the mode classes), `normalize.normalize_error` / `extract_error` (pure, used by the
pipeline's normalize phase), `headers` (pure).
"""
