"""One member of an iomesh lease's Ray cluster, run inside the job sandbox.

Written by the iomesh agent into the job's work directory and run with the
Python of the node's Ray. Everything it needs comes from the environment the
agent gives the job (IOMESH_RAY_* and the torchrun-style cluster variables).

Rank 0 starts the Ray head, waits until Ray reports every member of the
cluster alive, submits the renter's entrypoint through Ray's job submission
API and prints the job's logs; the Ray cluster then stays up for the rest of
the lease, so the renter can submit more jobs through the dashboard port.
Other ranks wait for the head's GCS port and join as workers.

SIGTERM (the lease ended or was cancelled) stops Ray; the sandbox's PID
namespace takes whatever is left.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

POLL_SECS = 0.2
LOG_POLL_SECS = 0.05
STATUS_SECS = 0.5


def log(message):
    print(f"[iomesh ray] {message}", flush=True)


def env_int(name):
    return int(os.environ[name])


def ray_start_args():
    """`ray start` arguments shared by head and workers: this lease's ports only."""
    base = env_int("IOMESH_RAY_PORT_BASE")
    services = env_int("IOMESH_RAY_SERVICE_PORT")
    workers_from = env_int("IOMESH_RAY_WORKER_PORT_MIN")
    workers_to = env_int("IOMESH_RAY_WORKER_PORT_MAX")
    return [
        os.environ["IOMESH_RAY_PROGRAM"],
        "start",
        "--block",
        "--disable-usage-stats",
        f"--node-ip-address={os.environ['IOMESH_RAY_NODE_IP']}",
        f"--num-gpus={env_int('NPROC_PER_NODE')}",
        f"--temp-dir={os.environ['IOMESH_RAY_TEMP_DIR']}",
        f"--dashboard-agent-grpc-port={services}",
        f"--dashboard-agent-listen-port={services + 1}",
        f"--metrics-export-port={services + 2}",
        f"--runtime-env-agent-port={services + 3}",
        f"--node-manager-port={services + 4}",
        f"--object-manager-port={services + 5}",
        f"--min-worker-port={workers_from}",
        f"--max-worker-port={workers_to}",
    ], base, services


def start(args):
    # Its own output is the lease's log; Ray's own logs stay in its temp dir.
    return subprocess.Popen(args)


def stop(ray):
    if ray.poll() is None:
        ray.send_signal(signal.SIGTERM)
        try:
            ray.wait(timeout=15)
        except subprocess.TimeoutExpired:
            ray.kill()


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run_head():
    args, base, services = ray_start_args()
    dashboard = env_int("IOMESH_RAY_DASHBOARD_PORT")
    args += [
        "--head",
        f"--port={base}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={services + 6}",
    ]
    members = env_int("WORLD_SIZE")
    log(f"starting the Ray head at {os.environ['IOMESH_RAY_NODE_IP']}:{base} for {members} member(s)")
    ray = start(args)
    signal.signal(signal.SIGTERM, lambda *_: (stop(ray), sys.exit(143)))

    from ray.job_submission import JobStatus, JobSubmissionClient
    from ray.util.state import list_nodes

    address = f"http://127.0.0.1:{dashboard}"
    alive, said = 0, None
    while alive < members:
        if ray.poll() is not None:
            log(f"the Ray head exited with {ray.returncode} before the cluster was up")
            return ray.returncode or 1
        try:
            nodes = list_nodes(address=address, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
            alive = len(nodes)
        except Exception:  # the dashboard is still starting
            alive = 0
        if alive != said:
            log(f"{alive} of {members} Ray node(s) alive")
            said = alive
        if alive < members:
            time.sleep(POLL_SECS)

    job = json.loads(os.environ["IOMESH_RAY_JOB"])
    runtime_env = dict(job.get("runtime_env") or {})
    if runtime_env.get("working_dir"):
        runtime_env["working_dir"] = os.path.join(os.getcwd(), runtime_env["working_dir"])
    client = JobSubmissionClient(address)
    submission = client.submit_job(
        entrypoint=job["entrypoint"],
        runtime_env=runtime_env or None,
        submission_id=os.environ.get("IOMESH_LEASE"),
    )
    log(f"cluster ready: submitted the entrypoint as Ray job {submission}")

    follow_driver_log(client, submission)
    status = client.get_job_status(submission)
    info = client.get_job_info(submission)
    log(f"Ray job {submission} {status.value}" + (f": {info.message}" if info.message else ""))
    log("the Ray cluster stays up until the lease ends (dashboard and job API: the lease's port 8265)")
    return_code = ray.wait()
    return 0 if status == JobStatus.SUCCEEDED else (return_code or 1)


def follow_driver_log(client, submission):
    """Copies the job's output to ours until the job ends.

    Read from the driver's log file on this (the head) node rather than
    through Ray's log streaming API, which looks for new lines once a second:
    the renter sees output (and its first line) that much sooner.
    """
    path = os.path.join(
        os.environ["IOMESH_RAY_TEMP_DIR"], "session_latest", "logs", f"job-driver-{submission}.log"
    )
    offset, checked, finished = 0, 0.0, False
    while True:
        if os.path.exists(path):
            with open(path, "rb") as driver_log:
                driver_log.seek(offset)
                chunk = driver_log.read()
            if chunk:
                offset += len(chunk)
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
        if finished:
            return
        now = time.monotonic()
        if now - checked >= STATUS_SECS:
            checked = now
            # Once the job is over, one more read takes what it wrote last.
            finished = client.get_job_status(submission).is_terminal()
        time.sleep(LOG_POLL_SECS)


def run_worker():
    args, _, _ = ray_start_args()
    head = os.environ["MASTER_ADDR"]
    port = env_int("MASTER_PORT")
    log(f"waiting for the Ray head at {head}:{port}")
    while not port_open(head, port):
        time.sleep(POLL_SECS)
    log(f"joining the Ray head at {head}:{port} as rank {os.environ['NODE_RANK']}")
    ray = start(args + [f"--address={head}:{port}"])
    signal.signal(signal.SIGTERM, lambda *_: (stop(ray), sys.exit(143)))
    return ray.wait()


if __name__ == "__main__":
    sys.exit(run_head() if os.environ["NODE_RANK"] == "0" else run_worker())
