"""An AWS region of the platform: key, network, VPC endpoints, model bucket, GPU inference cluster."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws_gpu_cluster import (
    AwsGpuInferenceCluster,
    AwsGpuInferenceClusterArgs,
    ModelReader,
    SystemNodeGroupArgs,
)
from components.helm_chart import HelmChart
from components.inference_service import InferenceService, InferenceServiceArgs, ObjectStoreModel
from components.karpenter_nodepools import DISCOVERY_TAG
from components.kms import StackKey, StackKeyArgs
from components.model_access_trail import ModelAccessTrail, ModelAccessTrailArgs, trail_arn
from components.model_bucket import ModelBucket, ModelBucketArgs
from components.network import RegionalNetwork, RegionalNetworkArgs
from components.vpc_endpoints import VpcEndpoints, VpcEndpointsArgs
from residency import residency_labels
from stackconfig import PROJECT, AwsStackConfig, ConfigError, Problem
from stackconfig.aws_cluster import EKS_ADDONS, AwsInferenceServiceConfig
from stacks.aws_endpoints import RegionEndpoints, build_private_dns, build_region_endpoints
from stacks.aws_karpenter import build_gpu_capacity, check_gpu_capacity
from stacks.aws_lb_controller import load_balancer_controller
from stacks.aws_metrics import ClusterScaling, build_aws_metrics
from stacks.aws_vpn import build_aws_vpn
from stacks.front_door import build_front_door, check_front_door
from stacks.gpu_placement import place_gpu_node_pools, region_zones
from stacks.tags import stack_tags

POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)
"""Where EKS Pod Identity serves credentials to pods (the agent on every node)."""

# The SDK classes this stack's components register, resolved at import rather than at first use:
# `infra check` imports the program once and forks a worker per stack, which then share them.
_SDK = (
    aws.Provider,
    aws.get_caller_identity,
    aws.kms.Key,
    aws.kms.Alias,
    aws.ec2.Vpc,
    aws.ec2.Subnet,
    aws.ec2.RouteTable,
    aws.ec2.Route,
    aws.ec2.RouteTableAssociation,
    aws.ec2.NatGateway,
    aws.ec2.Eip,
    aws.ec2.InternetGateway,
    aws.ec2.DefaultSecurityGroup,
    aws.ec2.FlowLog,
)


def build_aws_stack(config: AwsStackConfig) -> dict[str, Any]:
    site = config.deployment.site
    region = config.aws_region
    # Everything decided from AWS's answers happens before the first resource is registered, so bad
    # input (a GPU type the region's zones do not offer) stops the run with nothing half-declared.
    zones = region_zones(region)
    if len(zones) < config.network.az_count:
        raise ConfigError(
            [
                Problem(
                    f"{PROJECT}:network.azCount",
                    f"{region} has {len(zones)} available zones; {config.network.az_count} requested",
                )
            ]
        )
    network_zones = zones[: config.network.az_count]
    gpu_placement = place_gpu_node_pools(config, network_zones)
    check_gpu_capacity(config)
    check_front_door(config)
    account = aws.get_caller_identity().account_id
    bucket_name = f"{PROJECT}-{site}-models-{account}"
    # The access trail's ARN is known before the trail exists: the key's and the log bucket's policies name it.
    partition = aws.get_partition().partition
    access_trail_name = f"{PROJECT}-{site}-model-access"
    access_log_bucket_name = f"{PROJECT}-{site}-model-access-logs-{account}"
    access_trail_arn = trail_arn(partition, region, account, access_trail_name)
    _check_bucket_names(bucket_name, access_log_bucket_name)

    tags = stack_tags(config)
    cluster_name = f"{site}-gpu"
    provider = aws.Provider(f"aws-{site}", region=region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    with_provider = pulumi.ResourceOptions(provider=provider)
    key = StackKey(
        site,
        StackKeyArgs(
            region=region,
            ec2_autoscaling_role=config.eks.autoscaling_service_linked_role,
            cloudtrail_trail_arns=(access_trail_arn,),
        ),
        opts=with_provider,
    )
    net = config.network
    network = RegionalNetwork(
        site,
        RegionalNetworkArgs(
            vpc_cidr=config.site_plan.vpc_cidr,
            log_kms_key_arn=key.arn,
            az_count=net.az_count,
            private_subnet_prefix=net.private_subnet_prefix,
            public_subnet_prefix=net.public_subnet_prefix,
            nat_gateway_per_az=net.nat_gateway_per_az,
            flow_log_retention_days=net.flow_log_retention_days,
            availability_zones=[z.name for z in network_zones],
            # Karpenter's EC2NodeClass finds the subnets for GPU nodes by this tag (the NodePool picks the zones).
            private_subnet_tags={DISCOVERY_TAG: cluster_name},
        ),
        opts=with_provider,
    )
    VpcEndpoints(
        f"{site}-endpoints",
        VpcEndpointsArgs(
            region=region,
            vpc_id=network.vpc_id,
            vpc_cidr=network.vpc_cidr,
            subnet_ids=network.private_subnet_ids,
            route_table_ids=network.private_route_table_ids,
        ),
        opts=with_provider,
    )
    bucket = ModelBucket(
        f"{site}-models",
        ModelBucketArgs(
            bucket_name=bucket_name,
            kms_key_arn=key.arn,
            noncurrent_version_expiration_days=config.model_bucket.noncurrent_version_expiration_days,
            abort_incomplete_upload_days=config.model_bucket.abort_incomplete_upload_days,
        ),
        opts=with_provider,
    )
    access_trail = ModelAccessTrail(
        f"{site}-model-access",
        ModelAccessTrailArgs(
            model_bucket_name=bucket_name,
            log_bucket_name=access_log_bucket_name,
            trail_name=access_trail_name,
            partition=partition,
            region=region,
            account_id=account,
            kms_key_arn=key.arn,
            retention_days=config.model_bucket.access_log_retention_days,
        ),
        opts=with_provider,
    )
    eks = config.eks
    system = eks.system_node_group
    labels = residency_labels(tags)
    cluster = AwsGpuInferenceCluster(
        cluster_name,
        AwsGpuInferenceClusterArgs(
            region=region,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            kms_key_arn=key.arn,
            kubernetes_version=eks.kubernetes_version,
            # The deploy runners reach the API through the public endpoint, open only to named networks
            # (README, "Deploying for real"); nodes and pods use the private endpoint.
            endpoint_public_access=True,
            public_access_cidrs=[*config.deploy_runner.egress_cidrs, *eks.public_access_cidrs],
            log_retention_days=eks.log_retention_days,
            admin_principal_arns=eks.admin_principal_arns,
            addon_versions={name: eks.addon_version(name) for name in EKS_ADDONS},
            device_plugin=HelmChart(eks.device_plugin.repository, eks.device_plugin.chart, eks.device_plugin.version),
            system_node_group=SystemNodeGroupArgs(
                instance_types=system.instance_types,
                min_size=system.min_size,
                desired_size=system.desired_size,
                max_size=system.max_size,
                disk_size_gib=system.disk_size_gib,
            ),
            model_bucket_arn=bucket.arn,
            model_readers=[ModelReader(m.namespace, m.name) for m in config.inference],
            namespaces=sorted({"inference", *(m.namespace for m in config.inference)}),
            tags=tags,
            labels=labels,
        ),
        opts=with_provider,
    )
    gpu_pools = build_gpu_capacity(config, cluster, cluster_name, gpu_placement, key.arn, tags, labels, with_provider)
    cluster.gpu_capacity.append(gpu_pools)
    endpoints = build_region_endpoints(
        config, network, [z.name for z in network_zones], cluster, account, tags, with_provider
    )
    scaling = build_aws_metrics(config, cluster, key.arn, account, partition, tags, labels, with_provider)
    services = {
        model.name: _inference_service(model, config, bucket_name, cluster, endpoints, scaling)
        for model in config.inference
    }
    endpoint_outputs = build_private_dns(config, endpoints, network, services, tags, with_provider) if endpoints else {}
    vpn_outputs = build_aws_vpn(config, network, key.arn, with_provider)
    front_door_outputs = (
        build_front_door(
            config,
            network,
            cluster,
            endpoints.controller
            if endpoints
            else load_balancer_controller(config, cluster, network, account, tags, with_provider),
            services,
            scaling,
            tags,
            with_provider,
        )
        if config.front_door
        else {}
    )
    return {
        "region": region,
        "jurisdiction": config.deployment.jurisdiction,
        "vpcId": network.vpc_id,
        "vpcCidr": network.vpc_cidr,
        # What the on-prem site's public front door keeps out (stacks/onprem_front_door.py).
        "natPublicIps": network.nat_public_ips,
        "availabilityZones": network.availability_zones,
        "privateSubnetIds": network.private_subnet_ids,
        "privateRouteTableIds": network.private_route_table_ids,
        "kmsKeyArn": key.arn,
        "flowLogGroupName": network.flow_log_group_name,
        "clusterName": cluster.cluster_name,
        "clusterEndpoint": cluster.endpoint,
        "kubeconfig": cluster.kubeconfig,
        "gpuNodePoolZones": {name: placed.zones for name, placed in gpu_placement.items()},
        "modelBucketName": bucket.bucket_name,
        "modelAccessLogBucketName": access_trail.log_bucket_name,
        "inferenceEndpoints": {name: svc.endpoint for name, svc in services.items()},
        **endpoint_outputs,
        **vpn_outputs,
        **front_door_outputs,
    }


def _check_bucket_names(*names: str) -> None:
    """S3 bucket names are at most 63 characters; the site's name is the part the config chooses."""
    problems = [
        Problem(f"{PROJECT}:deployment.site", f"bucket name {name} is {len(name)} characters; S3 allows 63")
        for name in names
        if len(name) > 63
    ]
    if problems:
        raise ConfigError(problems)


def _inference_service(
    model: AwsInferenceServiceConfig,
    config: AwsStackConfig,
    bucket_name: str,
    cluster: AwsGpuInferenceCluster,
    endpoints: RegionEndpoints | None,
    scaling: ClusterScaling,
) -> InferenceService:
    labels = residency_labels(
        {**stack_tags(config), "data-classification": model.data_classification or config.classification}
    )
    resources, autoscaling = model.resources, model.autoscaling
    return InferenceService(
        model.name,
        InferenceServiceArgs(
            namespace=model.namespace,
            served_model_name=model.served_model_name,
            # Through the regional endpoint (and so the S3 gateway endpoint): weights never leave the region.
            model=ObjectStoreModel(
                uri=f"s3://{bucket_name}/{model.model_source.prefix}",
                endpoint=f"https://s3.{config.aws_region}.amazonaws.com",
                region=config.aws_region,
                public_https_egress=True,
            ),
            client_namespaces=model.client_namespaces,
            labels=labels,
            image=model.image,
            gpus=model.gpus,
            max_model_len=model.max_model_len,
            gpu_memory_utilization=model.gpu_memory_utilization,
            extra_args=model.extra_args,
            cpu_request=resources.cpu_request,
            cpu_limit=resources.cpu_limit,
            memory_request=resources.memory_request,
            memory_limit=resources.memory_limit,
            shm_size=model.shm_size,
            min_replicas=autoscaling.min_replicas,
            max_replicas=autoscaling.max_replicas,
            queue_threshold=autoscaling.queue_threshold,
            fallback_replicas=autoscaling.fallback_replicas,
            polling_interval_seconds=autoscaling.polling_interval_seconds,
            cooldown_seconds=model.cooldown_seconds,
            scraper=scaling.scraper,
            custom_resources_wait_for=scaling.crd_releases,
            scrape_interval=config.metrics.scrape_interval,
            egress=[POD_IDENTITY_AGENT, *((rule.cidr, rule.port) for rule in model.egress)],
            priority_class_name=model.priority_class_name,
            startup_timeout_seconds=model.startup_timeout_seconds,
            api_key_secret=model.api_key_secret,
            pods_wait_for=[cluster.pod_identity_associations[(model.namespace, model.name)]],
            exposure=endpoints.exposure(model.name, config.address_plan.onprem.cidrs)
            if endpoints and model.expose_to_onprem
            else None,
        ),
        opts=pulumi.ResourceOptions(
            provider=cluster.kubernetes_provider,
            # An exposed Service needs the controller running (it makes the NLB), its group and reserved block.
            depends_on=[
                *cluster.namespaces.values(),
                cluster.device_plugin,
                *cluster.gpu_capacity,
                *([endpoints.controller, endpoints.network] if endpoints and model.expose_to_onprem else []),
            ],
        ),
    )
