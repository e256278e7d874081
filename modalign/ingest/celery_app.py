"""The Celery application: configuration only, no tasks, no torch.

The API and the CLI build this app to *send* batches by task name; workers build it and then
register the tasks of :mod:`modalign.ingest.tasks`. Redis is the broker and the result backend.

Delivery guarantees: a batch message is acknowledged only after the batch committed
(``acks_late``), is re-queued when its worker process dies (``task_reject_on_worker_lost``), and a
worker takes one message at a time (prefetch 1), so a killed worker strands at most one batch per
process. With the Redis transport, a message a dead worker had taken comes back to the queue
after ``visibility_timeout`` seconds; Redis here keeps nothing on disk, so a Redis restart loses
queued messages: ``modalign jobs resume`` (and ``--wait``, which notices the restart) re-sends
every batch that still has pending items. Batches are idempotent, so a duplicate costs only time.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from modalign.config import Settings

BATCH_TASK = "modalign.ingest.run_batch"
DEFAULT_VISIBILITY_TIMEOUT = 3600


def celery_config(settings: Settings, *, visibility_timeout: int) -> dict[str, Any]:
    """The Celery settings modalign uses (see the module docstring)."""
    restore_interval = max(1, min(10, visibility_timeout // 3))
    return {
        "broker_url": settings.broker.url,
        "result_backend": settings.broker.result_backend,
        "task_default_queue": settings.broker.queue,
        "task_routes": {BATCH_TASK: {"queue": settings.broker.queue}},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 24 * 3600,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": restore_interval,
            "unacked_restore_throttle": 1,
            # a worker killed while holding the restore mutex must not block restores for long
            "unacked_mutex_expire": min(300, max(10, visibility_timeout // 2)),
        },
        "result_backend_transport_options": {"retry_policy": {"timeout": 5.0}},
        "worker_hijack_root_logger": False,
        "worker_proc_alive_timeout": 60.0,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def make_celery(
    settings: Settings, *, visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
) -> Celery:
    """A configured Celery app without tasks."""
    app = Celery("modalign")
    app.conf.update(celery_config(settings, visibility_timeout=visibility_timeout))
    return app
