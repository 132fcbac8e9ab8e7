"""The nightly ETL pipeline of samples/etl.yaml, written with the Python SDK.

`transpile compile samples/etl.py -t argo` gives the same WorkflowTemplate as the YAML form.
"""

from transpile import Flow

flow = Flow(
    "etl-daily",
    description="Nightly ETL",
    parameters={"date": "2026-01-01", "shards": ["a", "b", "c"]},
    defaults={
        "cache": True,
        "image": "ghcr.io/acme/etl:1.4",
        "retries": {"limit": 2, "backoff": "30s", "factor": 2, "max_backoff": "10m"},
        "timeout": "30m",
        "resources": {"cpu": "500m", "memory": "1Gi", "gpu": 0},
        "env": {"LOG_LEVEL": "info"},
        "secrets": [{"secret": "db", "key": "password", "env": "DB_PASSWORD"}],
        "node_selector": {"pool": "batch"},
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
    },
)

extract = flow.python("extract", "etl.steps:extract", returns=["rows", "shards"])

clean = flow.map("clean", over="shards", as_="shard", needs=[extract])
load = clean.python("load", "etl.steps:load", returns=["n"])
clean.shell("tidy", 'echo tidy --shard "$shard" rows=$n', needs=[load])

train = flow.parallel("train", needs=[clean])
train.branch("xgb").python("fit", "ml.xgb:fit", returns=["score_xgb"], resources={"gpu": 1})
train.branch("lin").python("fit", "ml.lin:fit", returns=["score_lin"])

gate = flow.python("gate", "ml.gate:decide", needs=[train], returns=["verdict"])

route = flow.switch("route", on="verdict", needs=[gate])
route.case("ship").shell(
    "publish", 'echo publishing; echo "$score_xgb" > "$TRANSPILE_RETURNS/published"', returns=["published"]
)
route.case("hold").shell("notify", "echo held")

flow.stub("noop", needs=[route])

flow.on_failure.shell("alert", 'echo "etl-daily failed on $date" >&2')
