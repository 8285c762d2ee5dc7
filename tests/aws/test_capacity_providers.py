"""Auto Scaling group capacity providers with the AWS CLI and boto3: CreateCapacityProvider,
UpdateCapacityProvider, DeleteCapacityProvider, DescribeCapacityProviders, their association with
clusters, and tasks and services launched through them (on the cluster's EC2 instances).

ECS's texts and response shapes are cited in docs/ecs-error-harvest.md (section P) and
docs/ecs-response-shapes.md (Capacity providers)."""

from conftest import ACCOUNT, INSTANCE_CPU, REGION
from ecs_helpers import FAST, container, describe_tasks, expect_error, register, service

ASG = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5EXAMPLE:autoScalingGroupName/MyASG"


def cp_arn(name):
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:capacity-provider/{name}"


def create(ecs, name="ec2", group=ASG, **asg):
    return ecs.create_capacity_provider(
        name=name, autoScalingGroupProvider={"autoScalingGroupArn": group, **asg}
    )["capacityProvider"]


def describe(ecs, *names, **kw):
    resp = ecs.describe_capacity_providers(capacityProviders=list(names), **kw)
    return resp["capacityProviders"], resp["failures"]


def test_cli_create_fills_in_ecs_defaults_and_describe_lists_it_after_fargate(cli, ecs):
    out = cli.run(
        "create-capacity-provider", "--name", "MyCapacityProvider",
        "--auto-scaling-group-provider",
        f"autoScalingGroupArn={ASG},managedScaling={{status=ENABLED,targetCapacity=100}},managedTerminationProtection=ENABLED",
        "--tags", "key=team,value=infra",
    )["capacityProvider"]
    # The AWS CLI's create-capacity-provider example: the step sizes and warm-up filled in.
    assert out["capacityProviderArn"] == cp_arn("MyCapacityProvider")
    assert out["status"] == "ACTIVE" and "updateStatus" not in out
    asg = out["autoScalingGroupProvider"]
    assert asg["autoScalingGroupArn"] == ASG
    assert asg["managedScaling"] == {
        "status": "ENABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}
    assert asg["managedTerminationProtection"] == "ENABLED"
    assert asg["managedDraining"] == "ENABLED"
    assert out["tags"] == [{"key": "team", "value": "infra"}]
    # Every provider of the account: FARGATE and FARGATE_SPOT first, tags only when asked for.
    listed = cli.run("describe-capacity-providers")["capacityProviders"]
    assert [p["name"] for p in listed] == ["FARGATE", "FARGATE_SPOT", "MyCapacityProvider"]
    assert listed[2]["tags"] == []
    tagged = cli.run("describe-capacity-providers", "--capacity-providers", "MyCapacityProvider",
                     "--include", "TAGS")["capacityProviders"]
    assert tagged[0]["tags"] == [{"key": "team", "value": "infra"}]
    assert ecs.list_tags_for_resource(resourceArn=cp_arn("MyCapacityProvider"))["tags"] == tagged[0]["tags"]


def test_managed_scaling_absent_is_disabled_with_defaults(ecs):
    p = create(ecs, "plain", group="plain-asg")
    assert p["autoScalingGroupProvider"]["managedScaling"] == {
        "status": "DISABLED", "targetCapacity": 100, "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 10000, "instanceWarmupPeriod": 300}
    assert p["autoScalingGroupProvider"]["managedTerminationProtection"] == "DISABLED"


def test_create_refusals_carry_ecs_texts_and_their_valid_neighbours_pass(ecs, unchecked):
    create(ecs, "taken")
    msg = expect_error("ClientException", create, ecs, "taken", group="other-asg")
    assert msg == ("The specified capacity provider already exists. To change the configuration of an "
                   "existing capacity provider, update the capacity provider.")
    msg = expect_error("ClientException", create, ecs, "second")
    assert msg == ("The specified Auto Scaling group ARN is already being used by another capacity provider. "
                   "Specify a unique Auto Scaling group ARN and try again.")
    # The group by name is the same group as by ARN.
    expect_error("ClientException", create, ecs, "third", group="MyASG")
    create(ecs, "second", group="other-asg")
    for bad in ["aws-ec2", "EcsSpot", "fargate1", "has space"]:
        msg = expect_error("ClientException", create, ecs, bad, group=f"g-{len(bad)}")
        assert msg.startswith("The specified capacity provider name is invalid.")
        assert 'cannot be prefixed with "aws", "ecs", or "fargate"' in msg
    create(ecs, "my-ecs-spot", group="g-neighbour")
    # ECS's text when a client sends a step size its SDK would refuse (aws/aws-cli#4781).
    msg = expect_error("ClientException", create, unchecked, "steps", group="g-steps",
                       managedScaling={"status": "ENABLED", "minimumScalingStepSize": 0})
    assert msg == "The specified minimum scaling step size is invalid."
    expect_error("ClientException", create, unchecked, "target", group="g-target",
                 managedScaling={"status": "ENABLED", "targetCapacity": 101})
    create(ecs, "target", group="g-target", managedScaling={"status": "ENABLED", "targetCapacity": 90})
    expect_error("ClientException", create, ecs, "badarn",
                 group="arn:aws:ec2:us-east-1:000000000000:instance/i-0123")
    msg = expect_error("UnsupportedFeatureException", ecs.create_capacity_provider, name="mi",
                       managedInstancesProvider={"infrastructureRoleArn": "arn:aws:iam::000000000000:role/r",
                                                 "instanceLaunchTemplate": {
                                                     "ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/p",
                                                     "networkConfiguration": {"subnets": ["subnet-1"]}}})
    assert "Managed Instances" in msg
    expect_error("InvalidParameterException", ecs.create_capacity_provider, name="nothing")
    # Nothing refused was stored.
    names = [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT", "taken", "second", "my-ecs-spot", "target"]


def test_update_answers_the_old_settings_in_progress_then_describe_shows_the_new(cli):
    cli.run("create-capacity-provider", "--name", "up", "--auto-scaling-group-provider",
            f"autoScalingGroupArn={ASG},managedScaling={{status=ENABLED,targetCapacity=100}}")
    out = cli.run(
        "update-capacity-provider", "--name", "up", "--auto-scaling-group-provider",
        "managedScaling={status=DISABLED,targetCapacity=50,minimumScalingStepSize=2,maximumScalingStepSize=30,"
        "instanceWarmupPeriod=200},managedTerminationProtection=DISABLED,managedDraining=DISABLED",
    )["capacityProvider"]
    # As the AWS CLI's update-capacity-provider example: the settings before, UPDATE_IN_PROGRESS.
    assert out["updateStatus"] == "UPDATE_IN_PROGRESS"
    assert out["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 100
    after = cli.run("describe-capacity-providers", "--capacity-providers", "up")["capacityProviders"][0]
    assert after["updateStatus"] == "UPDATE_COMPLETE"
    asg = after["autoScalingGroupProvider"]
    assert asg["managedScaling"] == {
        "status": "DISABLED", "targetCapacity": 50, "minimumScalingStepSize": 2,
        "maximumScalingStepSize": 30, "instanceWarmupPeriod": 200}
    assert asg["managedDraining"] == "DISABLED" and asg["autoScalingGroupArn"] == ASG
    # An update keeps what it does not name.
    cli.run("update-capacity-provider", "--name", cp_arn("up"), "--auto-scaling-group-provider",
            "managedScaling={targetCapacity=80}")
    again = cli.run("describe-capacity-providers", "--capacity-providers", "up")["capacityProviders"][0]
    assert again["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    assert again["autoScalingGroupProvider"]["managedScaling"]["instanceWarmupPeriod"] == 200
    err = cli.run("update-capacity-provider", "--name", "nope", "--auto-scaling-group-provider",
                  "managedDraining=ENABLED", check=False)
    assert err.code != 0 and "The specified capacity provider does not exist." in err.stderr


def test_association_with_clusters_and_delete(ecs):
    create(ecs, "asg-a")
    ecs.create_cluster(clusterName="cp1", capacityProviders=["asg-a"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "asg-a", "weight": 1}])
    c = ecs.describe_clusters(clusters=["cp1"])["clusters"][0]
    assert c["capacityProviders"] == ["asg-a"]
    # An Auto Scaling group provider serves one cluster.
    expect_error("InvalidParameterException", ecs.create_cluster, clusterName="cp2", capacityProviders=["asg-a"])
    msg = expect_error("InvalidParameterException", ecs.put_cluster_capacity_providers, cluster="default",
                       capacityProviders=["nope"], defaultCapacityProviderStrategy=[])
    assert msg == "The specified capacity provider was not found. Specify a valid capacity provider and try again."
    # A strategy cannot mix Fargate and Auto Scaling group providers (ECS's text).
    create(ecs, "asg-b", group="asg-b")
    msg = expect_error("InvalidParameterException", ecs.put_cluster_capacity_providers, cluster="default",
                       capacityProviders=["FARGATE", "asg-b"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1},
                                                        {"capacityProvider": "asg-b", "weight": 1}])
    assert msg.startswith("A capacity provider strategy cannot contain a mix of capacity providers")
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE", "asg-b"],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": "asg-b", "weight": 1}])
    # Deleting a provider a cluster still has: 200, DELETE_FAILED with ECS's reason, still ACTIVE.
    out = ecs.delete_capacity_provider(capacityProvider="asg-a")["capacityProvider"]
    assert out["status"] == "ACTIVE" and out["updateStatus"] == "DELETE_FAILED"
    assert out["updateStatusReason"] == (
        "The capacity provider cannot be deleted because it is associated with cluster: cp1. "
        "Remove the capacity provider from the cluster and try again.")
    ecs.put_cluster_capacity_providers(cluster="cp1", capacityProviders=[], defaultCapacityProviderStrategy=[])
    out = ecs.delete_capacity_provider(capacityProvider=cp_arn("asg-a"))["capacityProvider"]
    assert out["status"] == "ACTIVE" and out["updateStatus"] == "DELETE_IN_PROGRESS"
    (gone,), _ = describe(ecs, "asg-a")
    assert gone["status"] == "INACTIVE" and gone["updateStatus"] == "DELETE_COMPLETE"
    msg = expect_error("InvalidParameterException", ecs.put_cluster_capacity_providers, cluster="cp1",
                       capacityProviders=["asg-a"], defaultCapacityProviderStrategy=[])
    assert msg == ("The specified capacity provider 'asg-a' is not in an ACTIVE state. "
                   "Specify a valid capacity provider and try again.")
    msg = expect_error("ClientException", ecs.delete_capacity_provider, capacityProvider="asg-a")
    assert msg == "The specified capacity provider does not exist. Specify a valid name or ARN and try again."
    expect_error("InvalidParameterException", ecs.delete_capacity_provider, capacityProvider="FARGATE")
    # Its name and its group are free again.
    create(ecs, "asg-a")
    _, failures = describe(ecs, "never")
    assert failures == [{"arn": cp_arn("never"), "reason": "MISSING"}]


def test_describe_pages_ten_at_a_time(ecs, unchecked):
    for i in range(12):
        create(ecs, f"p{i:02}", group=f"g{i}")
    first = ecs.describe_capacity_providers()
    assert len(first["capacityProviders"]) == 10 and first["nextToken"]
    rest = ecs.describe_capacity_providers(nextToken=first["nextToken"])
    names = [p["name"] for p in first["capacityProviders"] + rest["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT"] + [f"p{i:02}" for i in range(12)]
    assert "nextToken" not in rest
    small = ecs.describe_capacity_providers(maxResults=3)
    assert [p["name"] for p in small["capacityProviders"]] == ["FARGATE", "FARGATE_SPOT", "p00"]
    expect_error("InvalidParameterException", unchecked.describe_capacity_providers, maxResults=11)


def test_tasks_and_services_run_on_the_clusters_instances_through_the_provider(ecs, instances):
    create(ecs, "ec2-cp")
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE", "ec2-cp"],
                                       defaultCapacityProviderStrategy=[])
    td = register(ecs, family="via-cp")["taskDefinitionArn"]
    strategy = [{"capacityProvider": "ec2-cp", "weight": 1}]
    resp = ecs.run_task(cluster="default", taskDefinition=td, count=2, capacityProviderStrategy=strategy)
    assert resp["failures"] == []
    for t in resp["tasks"]:
        assert t["launchType"] == "EC2" and t["capacityProviderName"] == "ec2-cp"
        assert t["containerInstanceArn"] in instances
    # A strategy that mixes the kinds is refused before anything runs.
    msg = expect_error("InvalidParameterException", ecs.run_task, cluster="default", taskDefinition=td,
                       capacityProviderStrategy=strategy + [{"capacityProvider": "FARGATE", "weight": 1}])
    assert msg.startswith("A capacity provider strategy cannot contain a mix")
    # A service on the cluster's default strategy takes it as its own, and runs through it.
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE", "ec2-cp"],
                                       defaultCapacityProviderStrategy=strategy)
    ecs.create_service(cluster="default", serviceName="cp-svc", taskDefinition=td, desiredCount=2)
    s = service(ecs, "cp-svc")
    assert [i["capacityProvider"] for i in s["capacityProviderStrategy"]] == ["ec2-cp"]
    assert "launchType" not in s
    ecs.get_waiter("services_stable").wait(cluster="default", services=["cp-svc"], WaiterConfig=FAST)
    arns = ecs.list_tasks(cluster="default", serviceName="cp-svc")["taskArns"]
    tasks = describe_tasks(ecs, arns)
    assert len(tasks) == 2
    assert {t["capacityProviderName"] for t in tasks} == {"ec2-cp"}
    assert all(t["launchType"] == "EC2" and t["containerInstanceArn"] in instances for t in tasks)
    stats = {s["name"]: s["value"] for s in
             ecs.describe_clusters(clusters=["default"], include=["STATISTICS"])["clusters"][0]["statistics"]}
    assert stats["activeEC2ServiceCount"] == "1" and stats["activeFargateServiceCount"] == "0"
    # The provider runs tasks: the cluster cannot let it go (ECS's text), nor can it be deleted.
    msg = expect_error("ResourceInUseException", ecs.put_cluster_capacity_providers, cluster="default",
                       capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[])
    assert msg == "The specified capacity provider is in use and cannot be removed."
    assert ecs.delete_capacity_provider(capacityProvider="ec2-cp")["capacityProvider"]["updateStatus"] == "DELETE_FAILED"


def test_a_service_on_the_clusters_default_fargate_strategy_runs_on_fargate(ecs):
    ecs.put_cluster_capacity_providers(cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                       defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT",
                                                                         "weight": 1}])
    # EC2-compatible too, so nothing but the strategy tells the reconciler where to run it.
    td = register(ecs, family="both", requiresCompatibilities=["EC2", "FARGATE"], networkMode="awsvpc",
                  cpu="256", memory="512")["taskDefinitionArn"]
    ecs.create_service(cluster="default", serviceName="on-default", taskDefinition=td, desiredCount=1,
                       networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}})
    s = service(ecs, "on-default")
    assert [i["capacityProvider"] for i in s["capacityProviderStrategy"]] == ["FARGATE_SPOT"]
    assert "launchType" not in s
    ecs.get_waiter("services_stable").wait(cluster="default", services=["on-default"], WaiterConfig=FAST)
    (t,) = describe_tasks(ecs, ecs.list_tasks(cluster="default", serviceName="on-default")["taskArns"])
    assert t["launchType"] == "FARGATE" and t["capacityProviderName"] == "FARGATE_SPOT"
    assert "containerInstanceArn" not in t


def test_managed_scaling_launches_instances_for_unplaced_service_tasks_and_retires_empty_ones(ecs, control):
    # Instances of the configured size (INSTANCE_CPU CPU units each): two 45 % tasks fit one.
    create(ecs, "auto", group="auto-asg",
           managedScaling={"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 0})
    ecs.create_cluster(clusterName="scaling", capacityProviders=["auto"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "auto", "weight": 1}])
    td = register(ecs, family="big", containers=[container(cpu=INSTANCE_CPU * 45 // 100, memory=256)])
    assert ecs.list_container_instances(cluster="scaling")["containerInstanceArns"] == []
    ecs.create_service(cluster="scaling", serviceName="grow", taskDefinition=td["taskDefinitionArn"],
                       desiredCount=5)
    ecs.get_waiter("services_stable").wait(cluster="scaling", services=["grow"], WaiterConfig=FAST)
    arns = ecs.list_container_instances(cluster="scaling")["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster="scaling", containerInstances=arns)["containerInstances"]
    # ceil(5 tasks / 2 per instance) = 3, every one the provider's.
    assert len(described) == 3
    assert {i["capacityProviderName"] for i in described} == {"auto"}
    assert sorted(i["runningTasksCount"] for i in described) == [1, 2, 2]
    tasks = describe_tasks(ecs, ecs.list_tasks(cluster="scaling", serviceName="grow")["taskArns"], cluster="scaling")
    assert {t["capacityProviderName"] for t in tasks} == {"auto"}
    assert {t["containerInstanceArn"] for t in tasks} == set(arns)
    # Fewer tasks: the emptied instance is retired after 15 minutes without tasks, not before.
    ecs.update_service(cluster="scaling", service="grow", desiredCount=2)
    control.advance(60)
    active = lambda: ecs.list_container_instances(cluster="scaling", status="ACTIVE")["containerInstanceArns"]
    assert len(active()) == 3
    control.advance(15 * 60)
    left = ecs.describe_container_instances(cluster="scaling", containerInstances=active())["containerInstances"]
    assert 1 <= len(left) <= 2 and all(i["runningTasksCount"] > 0 for i in left)
    # With nothing to run, every instance goes.
    ecs.update_service(cluster="scaling", service="grow", desiredCount=0)
    control.advance(16 * 60)
    assert active() == []


def test_without_managed_scaling_nothing_is_launched(ecs, control):
    create(ecs, "manual", group="manual-asg")
    ecs.create_cluster(clusterName="fixed", capacityProviders=["manual"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "manual", "weight": 1}])
    td = register(ecs, family="small")
    ecs.create_service(cluster="fixed", serviceName="stuck", taskDefinition=td["taskDefinitionArn"], desiredCount=1)
    control.advance(30)
    assert ecs.list_container_instances(cluster="fixed")["containerInstanceArns"] == []
    events = [e["message"] for e in service(ecs, "stuck", cluster="fixed")["events"]]
    assert any("was unable to place a task" in m for m in events), events


def test_managed_scaling_stops_adding_instances_that_tasks_cannot_use(ecs, control):
    create(ecs, "auto", group="auto-asg",
           managedScaling={"status": "ENABLED", "instanceWarmupPeriod": 0})
    ecs.create_cluster(clusterName="picky", capacityProviders=["auto"],
                       defaultCapacityProviderStrategy=[{"capacityProvider": "auto", "weight": 1}])
    # A fixed host port: one task per instance, so more tasks ask for more instances.
    port = {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}
    td = register(ecs, family="picky", containers=[container(portMappings=[port])])
    # No instance will ever have this attribute: one scale-out, then nothing more.
    ecs.create_service(cluster="picky", serviceName="never", taskDefinition=td["taskDefinitionArn"], desiredCount=1,
                       placementConstraints=[{"type": "memberOf", "expression": "attribute:gpu-kind == h100"}])
    control.advance(30)
    first = ecs.list_container_instances(cluster="picky")["containerInstanceArns"]
    assert len(first) == 1
    # Four tasks would need four instances, but the empty one already takes none of them.
    ecs.update_service(cluster="picky", service="never", desiredCount=4)
    control.advance(120)
    assert ecs.list_container_instances(cluster="picky")["containerInstanceArns"] == first
