"""Run inside the Prefect virtualenv: the Jobs a generated flow would create, with no cluster.

    python prefect_pods_probe.py FLOW_FILE NODES_JSON PREFECT_YAML BASE_JOB_TEMPLATE OUT.json

NODES_JSON lists `[node, settings, control]`; for each, the Job `transpile.runtime.prefect_tasks.job_manifest`
builds with the flow's SPEC (flavour `job`), and the flow pod's Job as prefect-kubernetes renders the work
pool's base job template with prefect.yaml's job variables. Writes {"nodes": {node: Job}, "flow": Job}.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys
from pathlib import Path

import yaml


def main() -> None:
    flow_file, nodes_file, prefect_yaml, template_file, out = sys.argv[1:6]
    spec = importlib.util.spec_from_file_location("generated_flow", flow_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    from transpile.runtime.prefect_tasks import job_manifest

    nodes = {}
    for node, settings, control in json.loads(Path(nodes_file).read_text()):
        nodes[node] = job_manifest(module.SPEC, node, "", "run-1", {}, settings, control)
    template = json.loads(Path(template_file).read_text())
    variables = yaml.safe_load(Path(prefect_yaml).read_text())["deployments"][0]["work_pool"]["job_variables"]
    configuration = KubernetesWorkerJobConfiguration.from_template_and_values(template, variables)
    if inspect.isawaitable(configuration):
        configuration = asyncio.run(configuration)
    Path(out).write_text(json.dumps({"nodes": nodes, "flow": configuration.job_manifest}, indent=1))


if __name__ == "__main__":
    main()
