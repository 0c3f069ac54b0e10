"""What `ddm-gateway serve` without a config prints: where it listens and the demo credentials.

The demo's credentials are fixed development values published in the README, not secrets."""
from __future__ import annotations

from typing import Any

from .config import demo_credentials


def demo_banner(config: Any) -> str:
    listen = f"http://{config.listen.host}:{config.listen.port}"
    project = config.iam.domains[0].projects[0].id
    alice = config.iam.domains[0].users[0].access_keys[0]
    return "\n".join([
        f"ddm-gateway demo on {listen} (admin http://{config.admin.host}:{config.admin.port}/healthz)",
        "upstream: embedded DDM simulator; store: in-process; identities (development values):",
        *demo_credentials(config),
        "try:",
        f"  ddm-gateway curl --ak {alice.ak} --sk {alice.sk} -H 'X-Project-Id: {project}' "
        f"{listen}/v1/{project}/instances",
    ])
