"""A real single-node SLURM cluster for the tests: Debian's slurm-wlm and munge, started as root in a sandbox.

`start_cluster(base)` installs the packages with apt when they are missing, starts munged (unless one runs),
slurmctld and slurmd with a config whose state, spool, logs and pid files live under `base`, waits until the
node is idle and returns a `Cluster` (its `env` holds SLURM_CONF for sbatch/squeue/scontrol/scancel);
`stop()` stops the daemons it started by their pid files. The node advertises two fake GPUs (gres files
/dev/null and /dev/zero) so that steps asking for `gpu: 1` can be scheduled. Without root or apt,
`SlurmUnavailable` says why.

Every limit a pipeline can hit keeps SLURM's default (MaxArraySize 1001, MaxJobCount 10000: users rarely
control them). Two settings only change how fast the sandbox answers, not what it accepts: the scheduler runs
every second (`sched_interval=1`; 5 s made a chain of jobs 2.3x slower), and the node declares 8 CPUs
(`config_overrides`) so the jobs of tests running at once do not queue behind each other on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge", "shellcheck")
BINARIES = ("sbatch", "squeue", "scontrol", "scancel", "slurmctld", "slurmd", "munged", "shellcheck")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class SlurmUnavailable(Exception):
    """SLURM cannot run here (no root, no apt); the message says why."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def ensure_installed() -> None:
    """Install slurm-wlm, munge and shellcheck with apt-get when any binary is missing."""
    if all(_which(b) for b in BINARIES):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurm-wlm/munge/shellcheck are not installed and this is not root (apt-get needs it)")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm/munge/shellcheck are not installed and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(command)} failed: {done.stderr[-1500:]}")
    missing = [b for b in BINARIES if not _which(b)]
    if missing:
        raise SlurmUnavailable(f"installed {', '.join(PACKAGES)} but {', '.join(missing)} are still missing")


def _free_ports(count: int) -> list[int]:
    """Ports free on this host now, so that several test sessions (checkouts) can each run a cluster."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _config(base: Path, host: str) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    return f"""ClusterName=transpile-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/slurmctld.log
SlurmdLogFile={base}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
DefMemPerCPU=256
SchedulerParameters=sched_interval=1
NodeName={host} CPUs=8 RealMemory=16000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Cluster:
    """A running sandbox cluster; `env` is what sbatch & co. need."""

    base: Path
    env: dict[str, str]
    pid_files: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the daemons this cluster started (by pid file), slurmd first."""
        for pid_file in self.pid_files:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)

    def log_tail(self) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.base / name
            if path.is_file():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)


def _munged(base: Path) -> Path | None:
    """Start munged unless one answers; its pid file when this call started it."""
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None
    key = Path("/etc/munge/munge.key")
    if not key.is_file():
        subprocess.run([_which("mungekey") or "mungekey", "--create", "--force"], check=True, capture_output=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    pid_file = base / "munged.pid"
    subprocess.run(
        [_which("munged") or "munged", "--force", f"--pid-file={pid_file}", f"--log-file={base / 'munged.log'}"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SlurmUnavailable("munged started but does not answer")
        time.sleep(0.2)
    return pid_file


def start_cluster(base: Path) -> Cluster:
    """Install when needed and start a one-node cluster rooted at `base` (a fresh directory)."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("a sandbox SLURM cluster needs root (slurmd runs jobs as their user)")
    ensure_installed()
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    conf = base / "slurm.conf"
    conf.write_text(_config(base, host))
    gres = "".join(f"NodeName={host} Name=gpu File={device}\n" for device in ("/dev/null", "/dev/zero"))
    (base / "gres.conf").write_text(gres)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(base, env)
    munge_pid = _munged(base)
    cluster.pid_files = [base / "slurmd.pid", base / "slurmctld.pid"] + ([munge_pid] if munge_pid else [])
    try:
        for daemon in ("slurmctld", "slurmd"):
            started = subprocess.run(
                [_which(daemon) or daemon, "-f", str(conf)], env=env, capture_output=True, text=True, timeout=60
            )
            if started.returncode != 0:
                raise SlurmUnavailable(f"{daemon} did not start: {started.stderr[-1500:]}\n{cluster.log_tail()}")
        deadline = time.monotonic() + 60
        while True:
            state = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env=env, capture_output=True, text=True, timeout=30
            ).stdout.strip()
            if state.startswith("idle"):
                return cluster
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"the node is {state or 'unknown'} after 60 s\n{cluster.log_tail()}")
            time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise


def start_state(base: Path) -> dict:
    """Start a cluster for `shared_by_workers`: its state is its directory."""
    return {"base": str(start_cluster(base).base)}


def stop_state(state: dict) -> None:
    base = Path(state["base"])
    Cluster(base, {}, [base / "slurmd.pid", base / "slurmctld.pid", base / "munged.pid"]).stop()


def cluster_of(state: dict) -> Cluster:
    base = Path(state["base"])
    return Cluster(base, {**os.environ, "SLURM_CONF": str(base / "slurm.conf")})
