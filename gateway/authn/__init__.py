"""Authentication: who is calling, decided in one place.

`authenticator.Authenticator` turns a RequestHead (gateway/request.py) into a Principal or
raises `failures.AuthFailure(reason)`; it owns token verification and revocation
(`revocation.RevocationCache`), the directory's AK/SKs, temporary credentials, the AK lockout,
the source IP's failed-auth budget (`guard.FailedAuthGuard`) and the project scope (`scope`).
The DDM pipeline and the HTTP edge's IAM and usage routes all use it; token issuing and
temporary-credential issuing stay in gateway/iam/ (plain services it calls).
"""
