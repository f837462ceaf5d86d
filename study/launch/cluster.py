"""Ray for a study: a local instance or an existing cluster, and the checks made before trials
start (a storage every node sees, GPUs that exist, a tracking store the Tune driver can reach).

Every node of a cluster runs the same rotsweep installation (as for any Ray application); the
study's storage must be a path all nodes mount at the same place (NFS) or a ``pyarrow.fs`` URI
(``s3://``, ``gs://``): trials write checkpoints, tables and artifacts there, never to the
driver's disk, and :func:`check_storage_visible` proves it before the first trial.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rotsweep.storage import exists, join, write_bytes
from study.folder.meta import StudyError as StudyError  # raised here, defined without Ray


def is_client(address: str | None) -> bool:
    """Whether ``address`` is a Ray Client address: Tune's driver then runs on the head node."""
    return bool(address) and str(address).startswith("ray://")


def check_client_options(address: str | None, storage: str | None, tracking_uri: str) -> None:
    """Under Ray Client the Tune controller (and the MLflow calls it makes) run on the head
    node, which sees neither this machine's disk nor a SQLite file on it.

    Raises:
        StudyError: no shared ``storage`` given, or a file-based tracking store.
    """
    if not is_client(address):
        return
    if storage is None:
        raise StudyError(f"--address {address}: Tune runs on the cluster's head node under Ray "
                         "Client; give --storage a shared path or URI (s3://, gs://, NFS) "
                         "that the head node sees")
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        raise StudyError(f"--address {address}: the head node logs to MLflow under Ray Client "
                         f"and cannot write {tracking_uri!r} on this machine; give "
                         "--tracking-uri http://<server>:<port>")


def check_local_auth(address: str | None, allow_no_auth: bool) -> None:
    """Refuse a local Ray instance without authentication unless the user accepts it.

    Ray (2.52 and later) authenticates every request to a local instance with a token unless
    ``RAY_AUTH_MODE=disabled``; without it, whoever reaches the instance's ports can run code
    as this user. The ports are on loopback (:func:`start_ray`), so that is every local user.

    Raises:
        StudyError: ``RAY_AUTH_MODE=disabled`` and not ``allow_no_auth``.
    """
    if address or allow_no_auth:
        return
    if os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "disabled":
        raise StudyError("RAY_AUTH_MODE=disabled: a local Ray instance without authentication "
                         "lets every user of this machine run code as you through its ports; "
                         "unset RAY_AUTH_MODE (token authentication is the default) or pass "
                         "--allow-no-auth to accept that")


def start_ray(address: str | None, num_cpus: int | None, env: Mapping[str, str]) -> None:
    """Join ``address`` (``auto``, ``host:port``, ``ray://host:port``) or start a local
    instance with ``num_cpus`` CPUs (this machine's by default), quietly. ``env`` is the Tune
    driver's environment: set in this process already, it is also given to the cluster's
    processes under Ray Client, where the driver runs on the head node.

    A local instance listens on loopback only (Ray would otherwise bind its ports to every
    interface) and uses token authentication unless ``RAY_AUTH_MODE`` says otherwise (see
    :func:`check_local_auth`)."""
    if ray.is_initialized():
        return
    quiet = ray.LoggingConfig(log_level="WARNING")
    if is_client(address):
        ray.init(address=address, logging_config=quiet, runtime_env={"env_vars": dict(env)})
    elif address:
        ray.init(address=address, logging_config=quiet)
    else:
        # "local": a new instance; with no address Ray would join any cluster already running
        # on this machine (another user's `ray start`, another study's test cluster)
        # Ray's default for a new local instance is token authentication (Ray >= 2.52), which
        # it announces at WARNING level: the progress lines say enough
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR)
        with loopback_only():
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(),
                     include_dashboard=False, logging_config=quiet)


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Make a local Ray instance started inside take 127.0.0.1 as its node address.

    Ray turns a loopback ``_node_ip_address`` into the machine's public address, unless Ray
    clusters are switched off (its ``ENABLE_RAY_CLUSTER`` setting, read when the address is
    chosen); then every server of the instance (GCS, raylet, object manager, workers, agents)
    binds 127.0.0.1, and no node can join it."""
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def alive_nodes() -> list[dict[str, Any]]:
    """The cluster's live nodes as ``ray.nodes()`` describes them."""
    return [n for n in ray.nodes() if n.get("Alive")]


def check_resources(request: Mapping[str, float], local: bool) -> str | None:
    """Whether some node can ever hold one trial's ``{"cpu": c, "gpu": g}``.

    Returns:
        A warning for a cluster that may still grow (an autoscaler can add GPU nodes), else None.

    Raises:
        StudyError: on a local instance that lacks the GPUs or CPUs one trial asks for.
    """
    totals = [n.get("Resources", {}) for n in alive_nodes()]
    fits = any(t.get("CPU", 0) >= request["cpu"] and t.get("GPU", 0) >= request["gpu"]
               for t in totals)
    if fits:
        return None
    best = max(totals, key=lambda t: (t.get("GPU", 0), t.get("CPU", 0)), default={})
    text = (f"resources: one trial asks for {request['cpu']} CPU and {request['gpu']} GPU, but "
            f"the largest node has {best.get('CPU', 0)} CPU and {best.get('GPU', 0)} GPU")
    if local:
        raise StudyError(text + "; lower resources.cpu/resources.gpu or join a cluster "
                                "(--address) that has them")
    return text + "; trials will wait until the cluster grows"


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return exists(path)


def check_storage_visible(storage: str) -> None:
    """Write a probe file to ``storage`` and ask one task on every live node to find it.

    Raises:
        StudyError: naming the nodes that cannot see the storage.
    """
    probe = join(storage, f".probe-{uuid.uuid4().hex}")
    write_bytes(probe, b"rotsweep storage probe")
    try:
        nodes = alive_nodes()
        found = ray.get([_sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            node_id=n["NodeID"], soft=False)).remote(probe) for n in nodes])
    finally:
        from rotsweep.storage import resolve

        fs, path = resolve(probe)
        with contextlib.suppress(OSError):
            fs.delete_file(path)
    blind = [f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})"
             for n, ok in zip(nodes, found, strict=True) if not ok]
    if blind:
        raise StudyError(f"--storage {storage}: not visible from node(s) {', '.join(blind)}; "
                         "trials write there, so give a path every node mounts (NFS) or a URI "
                         "such as s3://bucket/study")
