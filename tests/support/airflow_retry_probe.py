"""Run inside the Airflow virtualenv: per task of the DAGs in DAGS_DIR, the wait before each retry as Airflow's own
`TaskInstance.next_retry_datetime` computes it (a task instance stand-in whose attempt `try_number` failed).

    python airflow_retry_probe.py DAGS_DIR      prints JSON {task_id: [seconds, ...]}
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from types import SimpleNamespace

from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance


def main() -> None:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    found = {}
    for dag in DagBag(sys.argv[1]).dags.values():
        for task in dag.tasks:
            waits = []
            for n in range(1, (task.retries or 0) + 1):
                ti = SimpleNamespace(
                    task=task,
                    retry_delay_override=None,
                    end_date=start,
                    dag_id=dag.dag_id,
                    task_id=task.task_id,
                    logical_date=start,
                    try_number=n,
                    log=logging.getLogger(),
                )
                waits.append((TaskInstance.next_retry_datetime(ti) - start).total_seconds())
            found[task.task_id] = waits
    print(json.dumps(found))


if __name__ == "__main__":
    main()
