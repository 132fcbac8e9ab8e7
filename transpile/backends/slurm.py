"""SLURM backend: the execution plan -> one self-contained bash script that submits the run with sbatch.

The script (`templates/slurm.sh.j2`) holds the deploy settings, one `node_N` function per node (what its
job runs: node id, resources, retries, env, secrets) and one `block_N` function per block (a block's jobs
in dependency order), followed by a fixed runtime. Task steps become jobs chained with `afterok`; a map
becomes a fan-out job plus a join job, and the fan-out job submits the body as job arrays (chained
element-wise with `aftercorr`) once it knows the item count, then makes the join wait for them; a switch's
select job submits only the chosen case. Parallel branches are submitted inline. A finalizer (`afterany`)
decides the run's status and runs `on_failure`. Every user string reaches the script through `shlex.quote`;
comments and job names carry only node ids, which are made of Kubernetes-safe keys.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath

from transpile.backends import slurm_pod
from transpile.backends.base import EmitOptions, Refusals
from transpile.ir.graph import toposort
from transpile.ir.names import step_key
from transpile.plan.cache_mode import cached_steps
from transpile.plan.model import Plan, Settings, Step

CONTROL_ROLES = ("fan_out", "select")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|[kmgtpe]|)$")
_FACTORS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_FACTORS |= {f"{u}i": 1024 ** (n + 1) for n, u in enumerate("KMGTPE")}
START_MARGIN = 60  # seconds added to a job's --time for the entrypoint's start and the store's I/O


_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def q(text: str) -> str:
    """A bash word that is exactly `text`: single-quoted unless plainly safe; with control characters, an
    ANSI-C `$'...'` string whose escapes keep the script readable and on one line."""
    if not any(ord(c) < 32 or ord(c) == 127 for c in text):
        return shlex.quote(text)
    return (
        "$'" + "".join(_ESCAPES.get(c, f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c) for c in text) + "'"
    )


def words(items) -> str:
    """A bash array literal's content: each item quoted."""
    return " ".join(q(str(item)) for item in items)


def cpus(cpu: str | int | float) -> int | None:
    """CPUs for --cpus-per-task from a Kubernetes CPU quantity (`500m` -> 1, `1.5` -> 2); None if unreadable."""
    text = str(cpu).strip()
    try:
        value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None
    return max(1, math.ceil(value)) if math.isfinite(value) and value > 0 else None


def megabytes(memory: str) -> int | None:
    """MiB for --mem from a Kubernetes memory quantity (`1Gi` -> 1024, `1G` -> 954); None if unreadable."""
    match = _QUANTITY.match(str(memory).strip())
    if match is None:
        return None
    return max(1, math.ceil(float(match.group(1)) * _FACTORS[match.group(2)] / 2**20))


def time_limit(settings: Settings) -> int | None:
    """Minutes for --time: every attempt's timeout, every retry delay, and a start margin."""
    if not settings.timeout:
        return None
    retries = settings.retries
    attempts = 1 + (retries.limit if retries else 0)
    delays = sum(retries.delays()) if retries else 0
    return math.ceil((settings.timeout * attempts + delays + START_MARGIN) / 60)


class _Script:
    """Writes the node and block functions of one plan."""

    def __init__(self, plan: Plan, refusals: Refusals):
        self.plan = plan
        self.refusals = refusals
        self.numbers = {ident: n for n, ident in enumerate(plan.nodes, start=1)}
        self.node_functions: dict[int, str] = {}
        self.block_functions: list[str] = []
        self.next_block = 0

    # -- nodes --------------------------------------------------------------------------------------
    def resources(self, step: Step) -> list[str]:
        settings = step.settings or Settings()
        found = []
        res = settings.resources
        cpu, memory = slurm_pod.allocation(settings)
        if cpu is not None:
            count = cpus(cpu)
            if count is None:
                self.refusals.unsupported(f"cpu '{cpu}' is not a CPU quantity SLURM can read", step)
            else:
                found.append(f"--cpus-per-task={count}")
        if memory is not None:
            mib = megabytes(str(memory))
            if mib is None:
                self.refusals.unsupported(f"memory '{memory}' is not a quantity SLURM can read", step)
            else:
                found.append(f"--mem={mib}M")
        if res is not None and res.gpu:
            found.append(f"--gres=gpu:{res.gpu}")
        if res is not None and res.ephemeral_storage is not None:
            mib = megabytes(res.ephemeral_storage)
            if mib is None:
                self.refusals.unsupported(
                    f"ephemeral_storage '{res.ephemeral_storage}' is not a quantity SLURM can read", step
                )
            else:
                found.append(f"--tmp={mib}M")
        minutes = time_limit(settings)
        if minutes is not None:
            found.append(f"--time={minutes}")
        return found

    def node(self, step: Step, body: int | str | None = None, cases: list[tuple[str, int | str]] | None = None) -> int:
        """Write `node_N` for the node of `step`; returns N."""
        number = self.numbers[step.id]
        role = self.plan.nodes[step.id].role
        job_name = f"{self.plan.name}." + ".".join(step.id.split("/"))
        lines = [f"node_{number}() {{ # {step.id} ({role})", f"  NODE={q(step.id)} JOB_NAME={q(job_name)} ROLE={role}"]
        if step.is_task:
            settings = step.settings or Settings()
            if settings.timeout:
                lines.append(f"  TIMEOUT={settings.timeout}")
            if settings.retries and settings.retries.limit:
                lines.append(f"  DELAYS=({words(settings.retries.delays())})")
            resources = self.resources(step)
            if resources:
                lines.append(f"  RESOURCES=({words(resources)})")
            if settings.env:
                lines.append(f"  ENV=({words(f'{k}={v}' for k, v in settings.env.items())})")
            if settings.secrets:
                triples = [part for s in settings.secrets for part in (s.secret, s.key, s.env)]
                lines.append(f"  SECRETS=({words(triples)})")
        if body is not None:
            lines.append(f"  BODY={body}")
        if cases:
            lines.append(f"  CASES=({words(part for pair in cases for part in pair)})")
        lines.append("}")
        self.node_functions[number] = "\n".join(lines)
        return number

    # -- blocks -------------------------------------------------------------------------------------
    def block(self, steps: Mapping[str, Step], what: str, number: int | str | None = None) -> int | str:
        """Write `block_N` submitting `steps` (and, inline, their parallel branches); returns N."""
        if number is None:
            self.next_block += 1
            number = self.next_block
        slot = len(self.block_functions)
        self.block_functions.append("")  # parents before the blocks their jobs submit
        body: list[str] = []
        variables: list[str] = []
        done = self.steps(steps, "", body, variables)
        lines = [f"block_{number}() {{ # {what}", "  local at=$1 count=$2" + "".join(f" {v}" for v in variables)]
        lines += body
        lines += [f'  BLOCK_DONE="{":".join(done)}"', "}"]
        self.block_functions[slot] = "\n".join(lines)
        return number

    def steps(self, steps: Mapping[str, Step], outside: str, body: list[str], variables: list[str]) -> list[str]:
        """Emit the submissions of a block's steps in dependency order (steps that need no sibling wait for
        `outside`); returns the job ids its leaves end with."""
        order = toposort(list(steps), {name: list(step.needs) for name, step in steps.items()})
        done: dict[str, list[str]] = {}
        for name in order:
            step = steps[name]
            after = ":".join(part for dep in dict.fromkeys(step.needs) for part in done[dep])
            done[name] = self.step(step, after if step.needs else outside, body, variables)
        needed = {dep for step in steps.values() for dep in step.needs}
        return [part for name in order if name not in needed for part in done[name]]

    def step(self, step: Step, after: str, body: list[str], variables: list[str]) -> list[str]:
        """Emit one step's submission; returns the job ids that end it."""
        if step.parallel is not None:
            return [part for b in step.parallel.values() for part in self.steps(b.steps, after, body, variables)]
        variable = f"j{len(variables) + 1}"
        variables.append(variable)
        if step.is_task:
            number = self.node(step)
            body.append(f'  submit {number} "$at" "$count" "{after}"; {variable}=$JOB_ID # {step.id}')
            return [f"${variable}"]
        if step.map is not None:
            number = self.node(step, body=self.block(step.map.steps, f"body of map {step.id}"))
        else:
            cases = [(step_key(c), self.block(b.steps, f"case {step_key(c)} of {step.id}")) for c, b in cases_of(step)]
            number = self.node(step, cases=cases)
        line = f'  submit_control {number} "$at" "$count" "{after}"; {variable}=$JOB_ID # {step.id} ({step.kind})'
        body.append(line)
        return [f"${variable}"]


def cases_of(step: Step) -> list:
    assert step.switch is not None
    return list(step.switch.cases.items())


def _settings(plan: Plan) -> str:
    deploy = plan.deploy
    slurm = deploy.slurm or {}
    options = [f"--{name}={slurm[name]}" for name in ("partition", "account", "qos") if slurm.get(name)]
    options += list(slurm.get("options", ()))
    secrets_dir = slurm.get("secrets_dir", "~/.transpile/secrets")
    secrets = f'"$HOME"/{q(secrets_dir[2:])}' if secrets_dir.startswith("~/") else q(secrets_dir)
    store = deploy.volume.mount_path if deploy.volume.mount_path_set else ""
    lines = [
        f"PIPELINE={q(plan.name)}",
        f"PIPELINE_FILE={q(deploy.pipeline_file)}",
        f"PIPELINE_HASH={q(plan.hash)}",
        f"TRANSPILE=({words(deploy.command)})  # how a job runs transpile",
        f"WORKDIR={q(deploy.working_dir or '')}  # empty: the directory the script is run from",
        f"STORE={q(store)}  # the shared run store; empty: $WORKDIR/.transpile/store",
        f"SECRETS_DIR={secrets}  # a secret's key is the file SECRETS_DIR/<secret>/<key>",
        f"ARRAY_LIMIT={deploy.parallelism or ''}  # most array elements of one map at once",
        f"SBATCH_OPTIONS=({words(options)})",
        f"PARAMETER_NAMES=({words(plan.parameters)})",
        f"CACHED_STEPS=({words(cached_steps(plan))})  # what --refresh may name (a step, or a composite above one)",
        f"HAS_ON_FAILURE={1 if plan.on_failure is not None else 0}",
    ]
    return "\n".join(lines)


class SlurmBackend:
    """`transpile compile -t slurm`: `<name>.slurm.sh`, a bash script that submits the run to SLURM."""

    name = "slurm"
    suffix = ".slurm.sh"

    def emit(self, plan: Plan, options: EmitOptions) -> str:
        refusals = Refusals(self.name)
        if plan.schedule is not None:
            refusals.unsupported(
                "SLURM has no schedule of its own for a pipeline",
                doc=("schedule",),
                hint=f"remove `schedule` and add a scrontab line (`scrontab -e`): "
                f"{_scrontab(plan)} bash /path/to/{plan.name}{self.suffix}",
            )
        if plan.deploy.volume.mode == "template":
            refusals.unsupported(
                "volume.mode 'template' creates a Kubernetes claim per run; SLURM uses the shared directory "
                "volume.mount_path",
                hint="drop `volume.mode` from the deploy config",
            )
        slurm_pod.refuse(plan, refusals, plan.task_steps())
        script = _Script(plan, refusals)
        script.block(plan.steps, "the pipeline's steps", number=0)
        on_failure = plan.on_failure.steps if plan.on_failure is not None else {}
        script.block(on_failure, "on_failure, run by the finalizer when the run failed", number="on_failure")
        refusals.check()
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        from transpile.package_data import templates_dir

        env = Environment(
            loader=FileSystemLoader(str(templates_dir())),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        source = PurePosixPath(plan.deploy.pipeline_file).name
        return env.get_template("slurm.sh.j2").render(
            name=plan.name,
            source=source.replace("\n", " "),
            short_hash=plan.short_hash,
            file=f"{plan.name}{self.suffix}",
            settings=_settings(plan),
            nodes="\n".join(script.node_functions[n] for n in sorted(script.node_functions)),
            blocks="\n".join(script.block_functions),
        )


def _scrontab(plan: Plan) -> str:
    cron = plan.schedule.cron if plan.schedule else ""
    return cron if not cron.startswith("@every") else "<five cron fields>"
