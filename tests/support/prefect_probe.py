"""Run inside the Prefect virtualenv: build the Kubernetes manifests a generated flow would submit.

    python prefect_probe.py FLOW_FILE NODES_JSON PREFECT_YAML BASE_JOB_TEMPLATE OUT_DIR
    python prefect_probe.py run FLOW_FILE FUNCTION PARAMETERS_JSON

Writes Job manifests from `transpile.runtime.prefect_tasks.job_manifest()` with the flow's SPEC for the
node instances listed in NODES_JSON (`[[node, indices, control], ...]`), a task node once per settings
entry, and the flow-pod Job that Prefect's Kubernetes worker would create from the base job template and
the deployment's job variables (rendered by prefect-kubernetes itself).

`run` runs the flow function once with the given parameters as a deployment's flow run does (Prefect's
`run_flow`, which binds the stored parameters to the function: names under `params` go to `**params`);
exit 0 when the flow run completed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys
from pathlib import Path

import yaml


def load(flow_file: str):
    spec = importlib.util.spec_from_file_location("generated_flow", flow_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["generated_flow"] = module
    spec.loader.exec_module(module)
    return module


def run(flow_file: str, function: str, parameters_file: str) -> None:
    from prefect.flow_engine import run_flow

    parameters = json.loads(Path(parameters_file).read_text())
    state = run_flow(getattr(load(flow_file), function), parameters=parameters, return_type="state")
    print(json.dumps({"state": state.type.value}))
    sys.exit(0 if state.is_completed() else 1)


def main() -> None:
    if sys.argv[1] == "run":
        run(*sys.argv[2:5])
    flow_file, nodes_file, prefect_yaml, template_file, out = sys.argv[1:6]
    module = load(flow_file)
    from transpile.runtime.prefect_tasks import job_manifest

    out_dir = Path(out)
    params = {"sample": "value"}
    count = 0
    for node, indices, control in json.loads(Path(nodes_file).read_text()):
        # every settings entry a node of its kind may use, so each distinct pod shape is checked
        for settings in ["control"] if control else [n for n in module.SPEC.settings if n != "control"]:
            manifest = job_manifest(module.SPEC, node, indices, "run-1", params, settings, control)
            (out_dir / f"node-{count:03d}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
            count += 1

    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    template = json.loads(Path(template_file).read_text())
    deployment = yaml.safe_load(Path(prefect_yaml).read_text())["deployments"][0]
    variables = deployment["work_pool"]["job_variables"]
    configuration = KubernetesWorkerJobConfiguration.from_template_and_values(template, variables)
    if inspect.isawaitable(configuration):
        configuration = asyncio.run(configuration)
    (out_dir / "flow-pod-job.yaml").write_text(yaml.safe_dump(configuration.job_manifest, sort_keys=False))
    print(json.dumps({"written": len(list(out_dir.glob("*.yaml")))}))


if __name__ == "__main__":
    main()
