"""What a generated Prefect flow runs: two tasks that run the entrypoint for one node instance, and `Run`,
which submits them and fails the flow when any node failed.

Imported by the flow file in the flow's pod (which has transpile and Prefect installed), never by the
compiler. A node runs as a process in the flow's pod (flavour `pod`), or as its own Kubernetes Job
(flavour `job`, when the flow's `FlowSpec` has a `JobSpec`). Parameters reach the entrypoint as
`-p name=text`, encoded by `transpile.plan.params` (never through a shell or a template).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.runtime import flow_run

from transpile.plan.model import PIPELINE_LABEL
from transpile.plan.params import encode


@dataclass(frozen=True)
class JobSpec:
    """Where Jobs go when every node runs as its own Kubernetes Job."""

    namespace: str | None
    service_account: str | None
    labels: dict[str, str]
    claim: str


@dataclass(frozen=True)
class FlowSpec:
    """What every node of one flow shares: the pipeline, the store, the command, the settings by name
    (`{"options": task options, "pod": Job settings}`), and `job` (None: nodes run in the flow's pod)."""

    pipeline_file: str
    pipeline_hash: str
    store: str
    command: list[str]
    working_dir: str | None
    settings: dict[str, dict[str, Any]]
    job: JobSpec | None = None
    cache: str | None = None  # the run's cache mode (the flow parameter transpile_cache), set per run
    max_tasks_per_map: int | None = None  # a map's fan-out batches its items into at most this many task runs


def node_argv(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, control: bool) -> list[str]:
    """The entrypoint's command line for the node instances of a descriptor (a control node is told the most
    task runs a map may make: a fan-out batches its items to fit, a select ignores it)."""
    argv = ["execute-node", "--pipeline", spec.pipeline_file, "--hash", spec.pipeline_hash, "--store", spec.store]
    argv += ["--run-id", run_id, "--node", node, "--indices", indices]
    for name, value in params.items():
        argv += ["-p", f"{name}={encode(value)}"]
    if spec.cache is not None:
        argv += ["--cache", spec.cache]
    if control and spec.max_tasks_per_map:
        argv += ["--max-instances", str(spec.max_tasks_per_map)]
    return argv + (["--print-control"] if control else [])


def control_value(stdout: str) -> Any:
    """A control node's value: the last line it printed, as JSON when it is JSON."""
    line = stdout.rstrip("\n").rsplit("\n", 1)[-1]
    try:
        return json.loads(line)
    except ValueError:
        return line


def job_manifest(
    spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, settings: str, control: bool
) -> dict:
    """The Kubernetes Job running one node instance (flavour `job`)."""
    assert spec.job is not None
    job = spec.job
    pod = spec.settings[settings]["pod"]
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{node}/{indices}").hex[:10]
    env = [{"name": k, "value": v} for k, v in pod.get("env", {}).items()] + pod.get("secrets", [])
    container = {
        "name": "main",
        "image": pod["image"],
        "command": spec.command,
        "args": node_argv(spec, node, indices, run_id, params, control),
        "env": env,
        "resources": pod.get("resources", {}),
        "volumeMounts": [{"name": "store", "mountPath": spec.store}],
    }
    volumes = [{"name": "store", "persistentVolumeClaim": {"claimName": job.claim}}]
    pod_spec = {"restartPolicy": "Never", "containers": [container], "volumes": volumes}
    if spec.working_dir:
        container["workingDir"] = spec.working_dir
    if job.service_account:
        pod_spec["serviceAccountName"] = job.service_account
    pod_spec.update({k: pod[k] for k in ("nodeSelector", "tolerations") if pod.get(k)})
    # the pod settings, as the flow file holds them (transpile.backends.prefect_pod.job_fields)
    container.update(pod.get("container", {}))
    container["volumeMounts"] += pod.get("volumeMounts", [])
    volumes += pod.get("volumes", [])
    pod_spec.update(pod.get("spec", {}))
    metadata = {"labels": {**job.labels, **pod.get("labels", {})}}
    if pod.get("annotations"):
        metadata["annotations"] = dict(pod["annotations"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{job.labels[PIPELINE_LABEL][:40]}-{digest}", "labels": dict(job.labels)},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": metadata, "spec": pod_spec},
        },
    }


def _in_pod(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, control: bool) -> str:
    """Run one node instance as a process in the flow's pod; its output goes to the task's log."""
    logger = get_run_logger()
    done = subprocess.run(
        spec.command + node_argv(spec, node, indices, run_id, params, control),
        cwd=spec.working_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        logger.info(line)
    if done.returncode != 0:
        raise RuntimeError(f"node {node}[{indices}] failed with exit code {done.returncode}")
    return done.stdout


def _as_job(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, settings: str, control: bool) -> str:
    """Run one node instance as its own Kubernetes Job and wait for it (retries are Prefect's)."""
    from prefect_kubernetes.credentials import KubernetesCredentials
    from prefect_kubernetes.jobs import KubernetesJob

    assert spec.job is not None
    logger = get_run_logger()
    job = KubernetesJob(
        v1_job=job_manifest(spec, node, indices, run_id, params, settings, control),
        namespace=spec.job.namespace or "default",
        credentials=KubernetesCredentials(),
    )
    run = job.trigger()
    run.wait_for_completion(print_func=logger.info)
    logs = run.fetch_result()
    return "\n".join(logs.values()) if isinstance(logs, dict) else str(logs)


def execute(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, settings: str, control: bool) -> Any:
    """Run one node instance where the flow's flavour says; a control node's value, else None."""
    if spec.job is None:
        stdout = _in_pod(spec, node, indices, run_id, params, control)
    else:
        stdout = _as_job(spec, node, indices, run_id, params, settings, control)
    return control_value(stdout) if control else None


@task(cache_policy=NO_CACHE, persist_result=False)
def node_task(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, settings: str) -> None:
    """A task step's node (python, shell or stub)."""
    execute(spec, node, indices, run_id, params, settings, control=False)


@task(cache_policy=NO_CACHE, persist_result=False)
def control_task(spec: FlowSpec, node: str, indices: str, run_id: str, params: dict, settings: str) -> Any:
    """A map's fan-out (returns the item instances) or a switch's select (returns the case key)."""
    return execute(spec, node, indices, run_id, params, settings, control=True)


@dataclass
class Run:
    """One flow run: submits nodes, remembers every future, and fails the flow if any node failed."""

    spec: FlowSpec
    run_id: str
    params: dict
    futures: list[PrefectFuture] = field(default_factory=list)

    def _submit(self, configured, node: str, settings: str, wait_for: list, instances: list | None) -> list:
        if instances is None:
            return [configured.submit(self.spec, node, "", self.run_id, self.params, settings, wait_for=wait_for)]
        if not instances:
            return []
        fixed = (unmapped(self.spec), unmapped(node), instances, unmapped(self.run_id), unmapped(self.params))
        return list(configured.map(*fixed, unmapped(settings), wait_for=wait_for))

    def node(self, name: str, node: str, settings: str, wait_for: list, instances: list | None = None) -> list:
        """Submit a node, once or (inside maps) once per item instance; returns its futures."""
        configured = node_task.with_options(name=name, **self.spec.settings[settings]["options"])
        futures = self._submit(configured, node, settings, wait_for, instances)
        self.futures += futures
        return futures

    def control(self, name: str, node: str, wait_for: list, instances: list | None = None) -> tuple[list, list]:
        """Run a control node and wait for its value(s): (futures, values, one per instance)."""
        configured = control_task.with_options(name=name, **self.spec.settings["control"]["options"])
        futures = self._submit(configured, node, "control", wait_for, instances)
        self.futures += futures
        return futures, [future.result() for future in futures]

    def fan_out(self, name: str, node: str, wait_for: list, instances: list | None = None) -> tuple[list, list]:
        """A map's items: (futures, the flat list of item instances)."""
        futures, values = self.control(name, node, wait_for, instances)
        return futures, [item for value in values for item in value]

    def route(self, name: str, node: str, wait_for: list, instances: list | None = None) -> tuple[list, dict]:
        """A switch's choice: (futures, case key -> the descriptors whose instances chose it; "" when not in a
        map). Inside maps a select reports the set of keys its batch chose (`|ship|hold|`): each chosen case
        runs for the batch, and the entrypoint skips the instances that chose another."""
        futures, values = self.control(name, node, wait_for, instances)
        chosen: dict[str, list] = {}
        for indices, value in zip([""] if instances is None else instances, values, strict=True):
            keys = [value] if instances is None else [k for k in str(value).split("|") if k]
            for key in keys:
                chosen.setdefault(key, []).append(indices)
        return futures, chosen

    def check(self) -> None:
        """Wait for every node; raise (failing the flow) if any did not complete."""
        wait(self.futures)
        failed = [f for f in self.futures if not f.state.is_completed()]
        if failed:
            names = ", ".join(f.state.name for f in failed[:5])
            raise RuntimeError(f"{len(failed)} node(s) did not complete: {names}")


def run_flow(
    spec: FlowSpec,
    params: dict,
    pipeline: Callable[[Run], None],
    on_failure: Callable[[Run], None] | None = None,
    cache: str | None = None,
) -> None:
    """A flow run's body: the pipeline's nodes, every one checked; on failure, `on_failure` then re-raise.
    `cache`: the run's cache mode, passed to every node."""
    if cache is not None:
        spec = dataclasses.replace(spec, cache=str(cache))
    run = Run(spec, str(flow_run.get_id() or uuid.uuid4()), params)
    try:
        pipeline(run)
        run.check()
    except BaseException:
        if on_failure is not None:
            wait(run.futures)
            handler = Run(spec, run.run_id, run.params)
            on_failure(handler)
            handler.check()
        raise
