"""Run inside the Airflow virtualenv: load DAG files with Airflow's own DagBag and describe what it built.

    python airflow_probe.py DAGS_DIR [--pods OUT_DIR]   (with $KUBECONFIG set for --pods)
    python airflow_probe.py DAGS_DIR --render DAG_ID CONF_JSON


Prints JSON: import errors, and per DAG its tasks with their operator, upstream ids, trigger rule, mapping,
retries, timeouts and (for pods) image, volumes, mounts, resources, env, secrets and placement. With
--pods, also writes each unmapped pod's `build_pod_request_obj()` as YAML into OUT_DIR. With --render,
renders the templated fields of each unmapped task of DAG_ID as a run with the params CONF_JSON overrides
would (Airflow's own `render_template_fields` and the DAG's Jinja environment) and prints, per task, its
rendered env (`env_vars` of a pod, `env` of a local command).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _seconds(value):
    return None if value is None else value.total_seconds()


def _partial(task, name):
    if hasattr(task, "partial_kwargs"):
        return task.partial_kwargs.get(name)
    return getattr(task, name, None)


def _env(value) -> dict:
    if isinstance(value, dict):  # a mapped task keeps the partial's raw dict
        return dict(value)
    return {e.name: e.value for e in value or []}


def describe(task) -> dict:
    mapped = type(task).__name__ == "MappedOperator"
    info = {
        "operator": task.operator_name if mapped else type(task).__name__,
        "mapped": mapped,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(getattr(task, "trigger_rule", "")).split(".")[-1].lower(),
        "retries": _partial(task, "retries"),
        "retry_delay": _seconds(_partial(task, "retry_delay")),
        "retry_exponential_backoff": _partial(task, "retry_exponential_backoff"),
        "max_retry_delay": _seconds(_partial(task, "max_retry_delay")),
        "execution_timeout": _seconds(_partial(task, "execution_timeout")),
    }
    volumes = _partial(task, "volumes")
    if volumes is not None:
        resources = _partial(task, "container_resources")
        info.update(
            image=_partial(task, "image"),
            cmds=_partial(task, "cmds"),
            arguments=None if mapped else task.arguments,
            volumes=[{"name": v.name, "claim": v.persistent_volume_claim.claim_name} for v in volumes],
            mounts=[{"name": m.name, "path": m.mount_path} for m in _partial(task, "volume_mounts")],
            resources=None if resources is None else {"requests": resources.requests, "limits": resources.limits},
            env=_env(_partial(task, "env_vars")),
            secrets=[s.__dict__ for s in _partial(task, "secrets") or []],
            node_selector=_partial(task, "node_selector"),
            tolerations=[t.to_dict() for t in _partial(task, "tolerations") or []],
            do_xcom_push=_partial(task, "do_xcom_push"),
        )
    return info


def render(bag, dag_id: str, conf: dict) -> dict:
    """{task id: its env after Airflow renders its templated fields for a run with `conf`}."""
    dag = bag.dags[dag_id]
    params = {key: dag.params[key] for key in dag.params} | conf
    context = {"params": params, "run_id": "manual__2026-01-01T00:00:00+00:00", "ds": "2026-01-01", "dag": dag}
    rendered = {}
    for task in dag.tasks:
        if type(task).__name__ not in ("NodePod", "NodeCommand"):  # the nodes (mapped ones render per item)
            continue
        task.render_template_fields(context, jinja_env=dag.get_template_env())
        if hasattr(task, "env_vars"):
            rendered[task.task_id] = _env(task.env_vars)
        elif hasattr(task, "env"):
            rendered[task.task_id] = dict(task.env or {})
    return rendered


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "--render":
        errors = {k: str(v) for k, v in bag.import_errors.items()}
        print(json.dumps({"import_errors": errors, "rendered": render(bag, sys.argv[3], json.loads(sys.argv[4]))}))
        return
    result = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        result["dags"][dag_id] = {
            "params": {k: dag.params[k] for k in dag.params},
            "timetable": getattr(dag.timetable, "summary", str(dag.timetable)),
            "max_active_runs": dag.max_active_runs,
            "tasks": {task.task_id: describe(task) for task in dag.tasks},
        }
    if len(sys.argv) > 2 and sys.argv[2] == "--pods":
        import yaml
        from kubernetes.client import ApiClient

        out = Path(sys.argv[3])
        for dag in bag.dags.values():
            for task in dag.tasks:
                if hasattr(task, "build_pod_request_obj"):
                    pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj())
                    (out / f"{task.task_id}.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
