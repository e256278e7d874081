"""The broker as the API sees it: reachability and queue depth (Redis, when broker mode is celery).

The API never imports the Celery app or torch for this: it asks Redis directly. With Celery's
Redis transport a queue is a Redis list named after the queue (priority levels add lists
``<queue>\\x06\\x16<n>``), so its depth is the sum of their ``LLEN``.
"""

from __future__ import annotations

import logging

import redis

from modalign.config import Settings
from modalign.errors import TransientError

log = logging.getLogger(__name__)

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
SOCKET_TIMEOUT_S = 2.0


class BrokerProbe:
    """Redis connection used for health checks and queue depth; closed with the app."""

    def __init__(self, settings: Settings) -> None:
        self.queue = settings.broker.queue
        self.client = redis.Redis.from_url(
            settings.broker.url, socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
        )

    def ping(self) -> None:
        """Raise TransientError unless Redis answers."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise TransientError(f"broker unreachable: {exc}") from exc

    def queue_depth(self) -> int:
        """Messages waiting in the ingest queue (all priority levels)."""
        names = [self.queue, *(f"{self.queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS)]
        try:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.llen(name)
            return sum(int(n) for n in pipe.execute())
        except redis.RedisError as exc:
            raise TransientError(f"broker unreachable: {exc}") from exc

    def close(self) -> None:
        self.client.close()
