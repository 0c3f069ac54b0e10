"""The proxy stage: forwarding to DDM, upstream authentication, error normalization.

Import from the modules themselves, so that the pure ones stay free of aiohttp:
`client.UpstreamClient`, `upstream_auth.upstream_auth_from_config` (and the mode classes),
`normalize.normalize_error` / `extract_error` (pure), `headers` (pure).
"""
