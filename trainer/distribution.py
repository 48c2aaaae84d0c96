"""Chooses the tf.distribute strategy the Trainer runs under."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tensorflow as tf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StrategyPlan:
    """What the Trainer will run on; recorded with the model so lineage can show it."""

    kind: str  # "mirrored-gpu", "mirrored-cpu", "default" or "multi-worker-mirrored"
    devices: tuple[str, ...]
    workers: int = 1

    def describe(self) -> str:
        where = f"{self.workers} workers, " if self.workers > 1 else ""
        return f"{self.kind} over {where}{len(self.devices)} device(s): {', '.join(self.devices)}"


def plan_strategy(gpu_names: list[str], cpu_names: list[str], cpu_replicas: int) -> StrategyPlan:
    """Decides the strategy from the visible devices (pure, so it is testable without GPUs).

    Every visible GPU is used when there is one; otherwise MirroredStrategy runs
    over `cpu_replicas` logical CPU devices when at least two are configured and
    available, and the default single-device strategy otherwise.
    """
    if gpu_names:
        return StrategyPlan("mirrored-gpu", tuple(gpu_names))
    if cpu_replicas >= 2 and len(cpu_names) >= cpu_replicas:
        return StrategyPlan("mirrored-cpu", tuple(cpu_names[:cpu_replicas]))
    return StrategyPlan("default", tuple(cpu_names[:1]))


def configure_devices(cpu_replicas: int) -> None:
    """Enables GPU memory growth, or splits the CPU into logical devices.

    Must run before TensorFlow initialises its devices; afterwards TF refuses the
    change, and the strategy falls back to the devices that exist.
    """
    gpus = tf.config.list_physical_devices("GPU")
    try:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if not gpus and cpu_replicas >= 2:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
            )
    except RuntimeError:
        log.warning("TensorFlow devices were already initialised; using the devices that exist")


def make_strategy(cpu_replicas: int) -> tuple[tf.distribute.Strategy, StrategyPlan]:
    configure_devices(cpu_replicas)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    plan = plan_strategy(gpus, cpus, cpu_replicas)
    if plan.kind == "default":
        strategy = tf.distribute.get_strategy()
    else:
        strategy = tf.distribute.MirroredStrategy(devices=list(plan.devices))
    log.info("Training strategy: %s", plan.describe())
    return strategy, plan


def make_multi_worker_strategy(workers: int) -> tuple[tf.distribute.Strategy, StrategyPlan]:
    """MultiWorkerMirroredStrategy from TF_CONFIG; must run before any other TensorFlow op.

    Each worker trains on every GPU it sees, or on its one CPU device: extra
    logical CPU devices add no replicas under this strategy, so
    training.cpu_replicas applies to single-process training only.
    """
    configure_devices(1)
    # No CommunicationOptions(timeout_seconds=...): with it, TF 2.16 starts a
    # thread per collective op and never ends it. Measured with two loopback
    # workers: about 8,700 threads after 600 steps against 124 without; the
    # Trainer aborted in its third epoch ("Resource temporarily unavailable",
    # at vm.max_map_count). A lost peer is noticed by the launchers instead.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    local = [d.name.split("device:")[-1] for d in tf.config.list_logical_devices("GPU")] or ["CPU:0"]
    devices = tuple(f"/job:worker/task:{task}/device:{device}" for task in range(workers) for device in local)
    plan = StrategyPlan("multi-worker-mirrored", devices, workers)
    log.info("Training strategy: %s", plan.describe())
    return strategy, plan
