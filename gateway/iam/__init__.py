"""IAM emulation: token and temporary-credential cores (pure) plus the HTTP routes the SDKs call."""
