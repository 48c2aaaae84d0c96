"""VersionedPusher: TFX's Pusher with an atomic, idempotent, versioned copy.

It keeps the stock PusherSpec (inputs model and model_blessing, output
pushed_model), so it is a drop-in replacement; only the executor differs.
"""

from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.versioned_pusher import executor


class VersionedPusher(Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
