"""IAM emulation as plain services: token issuing and verification (`tokens`, keys in `keys`),
temporary AK/SK (`temporary`), password checks off the event loop (`password_checker`), the
Keystone-shaped bodies (`token_body`) and the bounded JSON parsing of IAM requests
(`json_body`). The HTTP routes the SDKs call are thin handlers in gateway/http/iam.py;
authentication of a caller is authn's."""
