"""Run inside the Airflow virtualenv: the pods a DAG file's KubernetesPodOperators would create, with no cluster.

    python airflow_pods_probe.py DAGS_DIR OUT.json   (with $KUBECONFIG pointing at any kubeconfig)

Loads the DAGs with Airflow's DagBag, renders each unmapped pod task's templated fields as a run would (a
run id and the DAG's params), then builds its pod with the provider's own `build_pod_request_obj()` and
writes {"DAG id/task id": pod as Kubernetes JSON} to OUT.json (import errors under "import_errors").
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from kubernetes.client import ApiClient

    bag = DagBag(sys.argv[1])
    out: dict = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "pods": {}}
    for dag in bag.dags.values():
        for task in dag.tasks:
            if not hasattr(task, "build_pod_request_obj"):
                continue
            context = {"run_id": "manual__probe", "params": {k: dag.params[k] for k in dag.params}}
            task.render_template_fields(context)
            pod = task.build_pod_request_obj(dry_run=True)
            out["pods"][f"{dag.dag_id}/{task.task_id}"] = ApiClient().sanitize_for_serialization(pod)
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(out, handle, indent=1, default=str)


if __name__ == "__main__":
    main()
