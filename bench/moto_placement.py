"""Measure moto's ECS task placement (fit-only: cpu, memory, ports; first fit) in-process.

Registers 5,000 container instances in a moto `mock_aws` ECS backend, then calls RunTask with
count=10 until 10,000 tasks are placed or the time budget runs out, and prints placements/s.

Two timings:
  * boto3: RunTask through the boto3 client (request serialisation + moto's dispatch + placement),
    which is how moto is used in tests;
  * backend: moto's `EC2ContainerServiceBackend.run_task` called directly (placement plus moto's
    task bookkeeping only), the fairest comparison with berth-core's engine.

Usage: .venv/bin/python bench/moto_placement.py [--instances 5000] [--tasks 10000] [--budget 60]
"""

import argparse
import json
import time

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

REGION = "us-east-1"


def setup(client, cluster, instances):
    # moto checks that the EC2 instance in the identity document exists, so launch them first.
    ec2 = boto3.client("ec2", region_name=REGION)
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = []
    while len(ids) < instances:
        n = min(1000, instances - len(ids))
        resp = ec2.run_instances(ImageId=ami, MinCount=n, MaxCount=n, InstanceType="m5.large")
        ids += [i["InstanceId"] for i in resp["Instances"]]
    client.create_cluster(clusterName=cluster)
    for instance_id in ids:
        client.register_container_instance(
            cluster=cluster,
            instanceIdentityDocument=json.dumps({"instanceId": instance_id}),
        )
    client.register_task_definition(
        family="web",
        containerDefinitions=[
            {"name": "web", "image": "nginx:1.27", "cpu": 128, "memory": 256, "essential": True}
        ],
    )


def run(mode, instances, tasks, budget):
    with mock_aws():
        client = boto3.client("ecs", region_name=REGION)
        cluster = f"bench-{mode}"
        setup(client, cluster, instances)
        backend = ecs_backends[DEFAULT_ACCOUNT_ID][REGION]
        placed = 0
        start = time.perf_counter()
        deadline = start + budget
        while placed < tasks and time.perf_counter() < deadline:
            if mode == "boto3":
                resp = client.run_task(cluster=cluster, taskDefinition="web", count=10, launchType="EC2")
                got = len(resp["tasks"])
            else:
                got = len(backend.run_task(cluster, "web", 10, None, "bench", None, "EC2"))
            if got == 0:
                raise SystemExit("moto placed nothing: cluster full?")
            placed += got
        elapsed = time.perf_counter() - start
        print(
            f"moto {mode:7}: {placed} tasks on {instances} instances in {elapsed:.2f} s "
            f"= {placed / elapsed:,.0f} placements/s"
        )
        return placed / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=5000)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--budget", type=float, default=25.0, help="seconds per mode")
    a = ap.parse_args()
    import moto

    print(f"moto {moto.__version__}, boto3 {boto3.__version__}")
    for mode in ("backend", "boto3"):
        run(mode, a.instances, a.tasks, a.budget)


if __name__ == "__main__":
    main()
