"""Config reload without dropping traffic: build a new Runtime, then swap it in one assignment.

Requests already running keep the snapshot they started with (pipeline/ddm.py reads
`services.runtime` once). An invalid file is refused with the `config check` messages and the
old config stays in force. IAM, policies, grants and limits take effect at once; listeners,
store, upstream and token keys need a restart (logged when they differ).
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Callable

from .config import ConfigError, load_config
from .services import Runtime, Services

log = logging.getLogger("ddm_gateway.reload")
RESTART_ONLY = ("listen", "admin", "store", "upstream", "tokens", "state_dir", "logging", "reload")


def reload_config(services: Services, path: str | Path,
                  adjust: Callable[[Any], Any] | None = None) -> bool:
    """Returns True when the new config is in force. `adjust` re-applies command-line overrides."""
    try:
        config = load_config(path)
        if adjust is not None:
            config = adjust(config)
        runtime = Runtime.from_config(config, services.runtime.catalog)
    except ConfigError as err:
        for problem in err.problems:
            log.error("config reload refused: %s", problem)
        return False
    except Exception as err:  # unreadable file, policy parse error...: keep serving the old config
        log.error("config reload refused: %s", err)
        return False
    _warn_restart_only(services.runtime.config, config)
    services.runtime = runtime
    log.info("config reloaded from %s", path)
    return True


def _warn_restart_only(old: Any, new: Any) -> None:
    for name in RESTART_ONLY:
        if getattr(old, name, None) != getattr(new, name, None):
            log.warning("config reload: '%s' changed; it takes effect after a restart", name)


def file_signature(path: str | Path) -> tuple[int, int, int] | None:
    """What changes when the file is rewritten in place, replaced by a rename (editors) or swapped
    through a symlink (Kubernetes ConfigMaps); None while it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


async def watch_file(path: str | Path, interval_s: float, on_change: Callable[[], object]) -> None:
    """Calls `on_change` whenever the file's signature changes, polling every `interval_s`: one
    stat per interval is cheaper and more portable than inotify, which misses symlink swaps."""
    seen = file_signature(path)
    while True:
        await asyncio.sleep(interval_s)
        current = file_signature(path)
        if current is not None and current != seen:
            seen = current
            try:
                on_change()
            except Exception:   # a watcher that dies silently would be worse than a log line
                log.exception("config reload after a file change failed")
