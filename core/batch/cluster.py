"""Workers on a Ray cluster for the batch: one actor per worker slot, each holding one loaded engine.

Ray (https://www.ray.io) is an optional extra (``pip install '.[cluster]'``) and is imported only inside the
functions here, so the rest of the batch, the app and the installers never need it. What a photo is, how it is
planned, journalled, written and summarised stays in :mod:`core.batch.runner`; the cluster only decides where
the engine runs (:mod:`core.batch.cluster_run` drives it).

Each actor loads the engine with :func:`core.inpaint.engine.load_engine` from the plan's settings, on a GPU
(``num_gpus=1``) when the cluster has GPUs, otherwise on a set number of CPU threads. It receives a decoded
photo's pixels and mask and returns the filled pixels; the driver writes the file (atomically, beside the
journal), so the output folder only has to exist on this computer. An actor whose process dies is restarted by
Ray (``max_restarts``) and the photo it held is started again by the driver on whichever actor is free.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.common.errors import MoebiusError

if TYPE_CHECKING:

    from core.job.request import InpaintRequest
    from core.job.settings import JobSettings

INSTALL_HINT = "Running a batch on a Ray cluster needs Ray: pip install 'moebius-studio[cluster]' (or '.[cluster]')."
LOCAL = "local"
"""The cluster address that starts a Ray cluster on this computer for this batch (stopped when it ends)."""
ACTOR_RESTARTS = 2
"""How often Ray restarts an actor whose process died, before its slot is given up."""


class ClusterError(MoebiusError):
    """The cluster cannot be used: Ray is missing, the address is wrong, or no worker could start."""


def ray_available() -> bool:
    """Whether Ray is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def check_address(address: str) -> str:
    """``address`` when it is ``local`` or ``ray://HOST:PORT``.

    Raises:
        ClusterError: anything else.
    """
    if address == LOCAL:
        return address
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not address.startswith("ray://") or not host or not port.isdigit():
        raise ClusterError(f"The cluster address {address!r} is neither 'local' nor ray://HOST:PORT.")
    return address


@dataclass(frozen=True)
class ClusterSpec:
    """Where and how a batch runs on Ray.

    Args:
        address: ``local`` (start Ray on this computer for this batch) or ``ray://HOST:PORT`` (Ray Client).
        actors: worker slots, each one loaded engine; ``0`` one per GPU, or per ``threads`` CPUs.
        threads: CPU threads per CPU actor (torch's thread count and the CPUs Ray reserves for it).
        model_dir: folder with the Moebius weights on every node (``None``: each node's models folder).
        device: the device of CPU actors' engines (GPU actors use ``cuda``).
    """

    address: str = LOCAL
    actors: int = 0
    threads: int = 1
    model_dir: str | None = None
    device: str = "cpu"


@dataclass
class Slot:
    """One actor: its handle, where it runs, and how often its process died."""

    actor: Any
    node: str
    pid: int
    deaths: int = 0
    busy: bool = False


class PhotoWorker:
    """The actor's class: one engine, filling the photos it is sent (wrapped by :func:`ray.remote`)."""

    def __init__(self, settings: JobSettings, model_dir: str | None, device: str, threads: int) -> None:
        import torch

        from backends.device import Request
        from core.inpaint.engine import load_engine_for

        if device == "cpu" and threads > 0:
            torch.set_num_threads(threads)
        # The batch's precision; the device is the slot's (a GPU actor's, or the CPU).
        asked = Request(device=device, precision=settings.precision, source="the cluster batch")
        self._engine = load_engine_for(settings.engine, settings, lambda: asked, model_dir=model_dir)

    def where(self) -> tuple[str, int]:
        """The node's id and this process's id."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def inpaint(self, request: InpaintRequest) -> tuple[str, Any, int | None, tuple[str, ...], str]:
        """``("done", image, seed, warnings, node)``, or ``("failed", reason, None, (), node)``.

        A photo that fails for its own reasons is reported, not raised: only a dying process makes the task
        fail, which is what the driver retries.
        """
        import ray

        node = ray.get_runtime_context().get_node_id()
        try:
            result = self._engine.inpaint(request)
        except MoebiusError as error:
            return "failed", error.user_message(), None, (), node
        except Exception as error:  # an engine bug on one photo must not end the batch
            return "failed", f"unexpected {type(error).__name__}: {error}", None, (), node
        return "done", result.image, result.seed, tuple(result.warnings), node


@dataclass
class RayWorkers:
    """The actors of one batch on one cluster; :meth:`close` always removes them (and a cluster it started).

    Args:
        spec: where and how many.
        settings: the plan's settings (the engine each actor loads).
    """

    spec: ClusterSpec
    settings: JobSettings
    slots: list[Slot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _started_ray: bool = False
    _addresses: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Connect (or start a local cluster) and start the actors, waiting until each has loaded its engine.

        Raises:
            ClusterError: Ray is missing, the cluster cannot be reached, or an actor cannot load the engine.
        """
        if not ray_available():
            raise ClusterError(INSTALL_HINT)
        import ray

        # 1. Connect: a local cluster for this batch, or Ray Client to a running one.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if not ray.is_initialized():
                if self.spec.address == LOCAL:
                    ray.init(
                        address="local",
                        include_dashboard=False,
                        _node_ip_address="127.0.0.1",
                        num_cpus=max(os.cpu_count() or 1, self.spec.threads * max(self.spec.actors, 1)),
                        log_to_driver=False,
                    )
                else:
                    ray.init(address=self.spec.address, log_to_driver=False)
                self._started_ray = True
        except Exception as error:
            raise ClusterError(f"Cannot start or reach the Ray cluster {self.spec.address}: {error}") from error
        # 2. One actor per slot: per GPU when the cluster has GPUs, otherwise per `threads` CPUs.
        api: Any = ray  # partly untyped
        resources = api.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        threads = max(self.spec.threads, 1)
        count = self.spec.actors or (gpus or max(int(resources.get("CPU", 1)) // threads, 1))
        if gpus:
            options: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
            device = "cuda"
        else:
            options = {"num_cpus": threads}
            device = self.spec.device
        actor_class: Any = ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=0)(PhotoWorker)
        actors: list[Any] = [
            actor_class.options(**options).remote(self.settings, self.spec.model_dir, device, threads)
            for _ in range(count)
        ]
        try:
            places = ray.get([actor.where.remote() for actor in actors])
        except Exception as error:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            self.close()
            raise ClusterError(
                f"The cluster's workers could not load the {self.settings.engine} engine: {error}"
            ) from error
        self.slots = [
            Slot(actor, self.node_address(node), pid) for actor, (node, pid) in zip(actors, places, strict=True)
        ]
        kind = "GPU" if gpus else f"CPU ({threads} thread{'s' if threads > 1 else ''} each)"
        nodes = sorted({slot.node for slot in self.slots})
        self.notes.append(
            f"{count} {kind} worker{'s' if count > 1 else ''} on {len(nodes)} node{'s' if len(nodes) > 1 else ''} "
            f"({', '.join(nodes)}); results are written on this computer."
        )

    def node_address(self, node_id: str) -> str:
        """The address of the node with Ray's id ``node_id`` (looked up once per node)."""
        if node_id not in self._addresses:
            import ray

            api: Any = ray  # partly untyped
            self._addresses.update({node["NodeID"]: node["NodeManagerAddress"] for node in api.nodes()})
        return self._addresses.get(node_id, node_id[:12])

    def submit(self, slot: Slot, request: InpaintRequest) -> Any:
        """Send one photo's request to ``slot``'s actor; returns the task's reference."""
        slot.busy = True
        return slot.actor.inpaint.remote(request)

    def close(self) -> None:
        """Kill the actors and disconnect (stopping the local cluster when this batch started it)."""
        if not ray_available():
            return
        import ray

        if not ray.is_initialized():
            return
        for slot in self.slots:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(slot.actor, no_restart=True)
        self.slots = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
