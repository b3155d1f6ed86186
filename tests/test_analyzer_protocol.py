"""``infra.analyzer`` against real ``python -m pulumi.policy`` processes, over the real Analyzer protocol.

One trivial-pack process serves the whole module (the config is reset after every test); the tests that
need a different boot (stack context, failure, teardown) start their own.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc
from pulumi_policy.version import VERSION as PULUMI_POLICY_VERSION

from infra.analyzer import (
    SECRET_SIG,
    SPECIAL_SIG_KEY,
    UNKNOWN_SENTINELS,
    AnalyzedResource,
    AnalyzerCallError,
    AnalyzerInfo,
    ConfigSchema,
    PolicyConfig,
    PolicyConfigError,
    PolicyInfo,
    PolicyPackError,
    PolicyPackProcess,
    PolicyPackStartError,
    ProviderInfo,
    Secret,
    StackContext,
    Unknown,
    from_wire,
    make_urn,
    reconcile_policy_config,
    to_wire,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRIVIAL_PACK = FIXTURES / "trivial_pack"
NOOP_PACK = FIXTURES / "noop_pack"
BUCKET = "aws:s3/bucket:Bucket"
# How long close() lets a pack exit after SIGINT where a test asserts the clean exit.  A working pack exits in
# 0.3 s on an idle machine, 2.8 s at load 16 and more than the default 5 s at load 40 on 2 cores (then it
# was SIGKILLed and such a test failed on speed alone); only a pack that ignores SIGINT comes near this bound,
# and it then fails rather than hangs.  The SIGKILL after the grace has its own test with a short grace.
UNHURRIED_SHUTDOWN = 300.0


def bucket(name: str, **properties: object) -> AnalyzedResource:
    """A bucket resource in project ``proj``, stack ``dev``."""
    return AnalyzedResource(urn=make_urn("proj", "dev", BUCKET, name), type=BUCKET, name=name, properties=properties)


def buckets(count: int) -> list[AnalyzedResource]:
    return [bucket(f"b{i}") for i in range(count)]


@pytest.fixture(scope="module")
def trivial_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(TRIVIAL_PACK) as pack:
        yield pack


@pytest.fixture
def pack(trivial_pack: PolicyPackProcess) -> Iterator[PolicyPackProcess]:
    """The shared pack, put back to the CLI's default config after each test."""
    yield trivial_pack
    trivial_pack.configure({})


def test_info_lists_the_policies_as_the_cli_reads_them(pack: PolicyPackProcess) -> None:
    info = pack.info()

    assert info.name == "trivial-pack"
    assert info.version == "0.2.0"  # PulumiPolicy.yaml wins over the SDK's hard-coded 0.0.1, as in the CLI
    assert info.supports_config
    assert [p.name for p in info.policies] == ["max-resources", "no-bad-resources"]
    resource_policy = info.policy("no-bad-resources")
    assert resource_policy.policy_type == "resource"
    assert resource_policy.enforcement_level == "advisory"
    assert resource_policy.description == "Resources must not set bad=true."
    assert resource_policy.config_schema is None
    stack_policy = info.policy("max-resources")
    assert stack_policy.policy_type == "stack"
    assert stack_policy.config_schema == ConfigSchema(
        properties={"maxResources": {"type": "integer", "minimum": 1.0, "default": 3.0}}
    )
    assert pack.plugin_version() == PULUMI_POLICY_VERSION
    assert pack.handshake_supported is False  # pulumi_policy answers UNIMPLEMENTED; the CLI accepts that


def test_boot_sends_the_reconciled_default_config(trivial_pack: PolicyPackProcess) -> None:
    # The CLI configures every policy (default level + schema defaults) even when the user gave no config.
    assert trivial_pack.configured == {
        "max-resources": PolicyConfig("advisory", {"maxResources": 3.0}),
        "no-bad-resources": PolicyConfig("advisory", {}),
    }


def test_a_violating_resource_yields_exactly_one_diagnostic(pack: PolicyPackProcess) -> None:
    resource = bucket("b1", bad=True)

    [diagnostic] = pack.analyze(resource)

    assert diagnostic.policy_name == "no-bad-resources"
    assert diagnostic.pack_name == "trivial-pack"
    assert diagnostic.pack_version == "0.2.0"
    assert diagnostic.enforcement_level == "advisory"
    assert diagnostic.urn == resource.urn  # attributed to the analysed resource, as the CLI does ...
    assert diagnostic.reported_urn == ""  # ... although the SDK leaves the URN out of resource diagnostics
    assert diagnostic.message == "Resources must not set bad=true.\nb1 has bad=true (tags={})"
    assert diagnostic.severity is None


@pytest.mark.parametrize("properties", [{}, {"bad": False}, {"bad": "true"}, {"good": True}])
def test_a_compliant_resource_yields_nothing(pack: PolicyPackProcess, properties: dict[str, object]) -> None:
    assert pack.analyze(bucket("ok", **properties)) == []


def test_configure_overrides_the_enforcement_level(pack: PolicyPackProcess) -> None:
    sent = pack.configure({"no-bad-resources": "mandatory"})

    assert sent["no-bad-resources"] == PolicyConfig("mandatory", {})
    assert sent["max-resources"] == PolicyConfig("advisory", {"maxResources": 3.0})  # defaults still sent
    [diagnostic] = pack.analyze(bucket("b1", bad=True))
    assert diagnostic.enforcement_level == "mandatory"

    pack.configure({"all": "disabled"})
    assert pack.analyze(bucket("b1", bad=True)) == []
    assert pack.analyze_stack(buckets(10)) == []


def test_configure_reaches_the_pack_through_the_config_schema(pack: PolicyPackProcess) -> None:
    [default_limit] = pack.analyze_stack(buckets(4))
    assert "4 resources exceed the limit of 3" in default_limit.message  # the schema default, sent by us
    assert pack.analyze_stack(buckets(3)) == []

    pack.configure({"max-resources": {"maxResources": 10}})

    assert pack.analyze_stack(buckets(4)) == []
    [raised_limit] = pack.analyze_stack(buckets(11))
    assert raised_limit.policy_name == "max-resources"
    assert raised_limit.urn == ""  # a stack-wide violation
    assert "11 resources exceed the limit of 10" in raised_limit.message


def test_config_the_cli_would_refuse_never_reaches_the_pack(pack: PolicyPackProcess) -> None:
    with pytest.raises(PolicyConfigError, match=r"max-resources: maxResources: 0 is less than the minimum of 1"):
        pack.configure({"max-resources": {"maxResources": 0}})
    with pytest.raises(PolicyConfigError, match="'sometimes' is not a valid enforcement level"):
        pack.configure({"no-bad-resources": "sometimes"})

    assert "limit of 3" in pack.analyze_stack(buckets(4))[0].message  # still the previous config


def test_unreconciled_config_shows_why_the_cli_reconciles(pack: PolicyPackProcess) -> None:
    pack.configure({"no-bad-resources": "mandatory"})
    assert pack.analyze(bucket("b1", bad=True))[0].enforcement_level == "mandatory"

    # A raw entry without a level is sent as proto3's default, ADVISORY, and replaces the whole config.
    pack.configure({"no-bad-resources": {"note": "properties only"}}, reconcile=False)

    assert pack.analyze(bucket("b1", bad=True))[0].enforcement_level == "advisory"
    with pytest.raises(AnalyzerCallError) as failure:
        pack.analyze_stack(buckets(1))  # the pack has no maxResources any more: its policy raises KeyError
    assert failure.value.method == "AnalyzeStack"
    assert failure.value.code == grpc.StatusCode.UNKNOWN
    # grpc's NullHandler swallows the traceback; str(KeyError) in the status details is all that is left.
    assert failure.value.details == "Exception calling application: 'maxResources'"


def test_the_stack_policy_sees_parents_dependencies_and_providers(pack: PolicyPackProcess) -> None:
    provider = ProviderInfo(
        urn=make_urn("proj", "dev", "pulumi:providers:aws", "eu"),
        type="pulumi:providers:aws",
        name="eu",
        properties={"region": "eu-central-1"},
    )
    component = AnalyzedResource(
        urn=make_urn("proj", "dev", "hybrid:index:Store", "store"),
        type="hybrid:index:Store",
        name="store",
        custom=False,
    )
    key = AnalyzedResource(
        urn=make_urn("proj", "dev", "aws:kms/key:Key", "key", parent_type="hybrid:index:Store"),
        type="aws:kms/key:Key",
        name="key",
        parent=component.urn,
        provider=provider,
    )
    data = AnalyzedResource(
        urn=make_urn("proj", "dev", BUCKET, "data", parent_type="hybrid:index:Store"),
        type=BUCKET,
        name="data",
        properties={"kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/1"},
        parent=component.urn,
        provider=provider,
        dependencies=[key.urn],
        property_dependencies={"kmsKeyId": [key.urn], "tags": []},
    )
    logs = bucket("logs")

    [diagnostic] = pack.analyze_stack([component, key, data, logs])

    assert diagnostic.message.endswith(
        "4 resources exceed the limit of 3: "
        "store(parent=None deps=[] propdeps={} provider=None); "
        "key(parent=store deps=[] propdeps={} provider=eu); "
        "data(parent=store deps=['key'] propdeps={'kmsKeyId': ['key']} provider=eu); "
        "logs(parent=None deps=[] propdeps={} provider=None)"
    )


def test_secret_values_reach_the_pack_as_secrets(pack: PolicyPackProcess) -> None:
    assert to_wire({"bad": Secret(True)}) == {"bad": {SPECIAL_SIG_KEY: SECRET_SIG, "value": True}}

    # validate() sees the plain value: the SDK recognised the engine's secret signature and unwrapped it.
    assert [d.policy_name for d in pack.analyze(bucket("s1", bad=Secret(True)))] == ["no-bad-resources"]
    assert pack.analyze(bucket("s2", bad=Secret(False))) == []
    # Control: the SDK really decodes signatures; one it does not know makes it fail the call.
    with pytest.raises(AnalyzerCallError, match="Analyze failed"):
        pack.analyze(bucket("s3", bad={SPECIAL_SIG_KEY: "not-a-known-signature", "value": True}))

    # remediate() gets pulumi_policy.Secret objects: writing through them keeps the value secret.
    pack.configure({"no-bad-resources": "remediate"})
    [secret_fix] = pack.remediate(bucket("s1", bad=Secret(True), other="plain"))
    [plain_fix] = pack.remediate(bucket("p1", bad=True))
    assert secret_fix.policy_name == "no-bad-resources"
    assert secret_fix.properties == {"bad": Secret(False), "other": "plain"}
    assert plain_fix.properties == {"bad": False}


def test_remediate_first_analyzes_the_remediated_inputs(pack: PolicyPackProcess) -> None:
    pack.configure({"no-bad-resources": "remediate"})
    resources = [bucket("b0", bad=True), bucket("b1")]

    # Analyze alone still runs the policy; the SDK reports a remediate-level violation as mandatory.
    assert [[d.enforcement_level for d in ds] for ds in pack.analyze_many(resources)] == [["mandatory"], []]
    # Like the step generator: Remediate, then Analyze what the remediation produced.
    assert pack.analyze_many(resources, concurrency=2, remediate_first=True) == [[], []]


def test_unknown_values_are_sent_as_the_engine_sentinels(pack: PolicyPackProcess) -> None:
    assert to_wire([Unknown("bool"), Unknown()]) == [UNKNOWN_SENTINELS["bool"], UNKNOWN_SENTINELS["string"]]

    [diagnostic] = pack.analyze(bucket("u1", bad=Unknown("bool")))

    assert diagnostic.enforcement_level == "advisory"
    assert "boolean value at .bad can't be known during preview" in diagnostic.message


def test_internal_keys_are_dropped_except_for_remediate(pack: PolicyPackProcess) -> None:
    properties = {"__defaults": ["bucket"], "tags": {"__meta": 1, "env": "dev"}}
    assert to_wire(properties) == {"tags": {"env": "dev"}}
    assert to_wire(properties, skip_internal_keys=False) == properties
    assert from_wire({"a": UNKNOWN_SENTINELS["number"], "b": {SPECIAL_SIG_KEY: SECRET_SIG, "value": 1.0}}) == {
        "a": Unknown("number"),
        "b": Secret(1.0),
    }
    with pytest.raises(TypeError, match="cannot send a set"):
        to_wire({"x": {1, 2}})

    pack.configure({"no-bad-resources": "remediate"})
    [fix] = pack.remediate(bucket("b1", bad=True, __defaults=["bad"]))
    assert fix.properties == {"bad": False, "__defaults": ["bad"]}


def test_analyze_many_keeps_input_order_at_any_concurrency(pack: PolicyPackProcess) -> None:
    resources = [bucket(f"b{i}", bad=i % 3 == 0) for i in range(40)]
    expected = [[r.urn] if r.properties["bad"] else [] for r in resources]

    for concurrency in (1, 4, 64):
        results = pack.analyze_many(resources, concurrency=concurrency)
        assert [[d.urn for d in ds] for ds in results] == expected
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        pack.analyze_many(resources, concurrency=0)


def test_pack_logs_go_to_stderr_while_the_engine_server_still_serves(pack: PolicyPackProcess) -> None:
    pack.analyze_stack(buckets(2))
    # pulumi_policy never dials the engine address, so pulumi.log falls back to printing on stderr.
    line = pack.wait_for_output(lambda text: "max-resources saw 2 resources" in text)
    assert line == "info: max-resources saw 2 resources (limit 3)"
    assert all("max-resources saw" not in entry.message for entry in pack.engine_logs)

    with grpc.insecure_channel(pack.engine_address) as channel:
        engine = engine_pb2_grpc.EngineStub(channel)
        engine.Log(engine_pb2.LogRequest(severity=engine_pb2.WARNING, message="hello", urn="urn:x", streamId=7))
        engine.SetRootResource(engine_pb2.SetRootResourceRequest(urn="urn:pulumi:dev::proj::pulumi:pulumi:Stack::s"))
        root = engine.GetRootResource(engine_pb2.GetRootResourceRequest())
    assert root.urn == "urn:pulumi:dev::proj::pulumi:pulumi:Stack::s"
    [entry] = [e for e in pack.engine_logs if e.message == "hello"]
    assert (entry.severity, entry.urn, entry.stream_id) == ("warning", "urn:x", 7)


def test_stack_context_reaches_the_pack() -> None:
    stack = StackContext(project="proj", stack="dev", tags={"team": "ml"})
    with PolicyPackProcess(TRIVIAL_PACK, stack=stack, policy_config={"no-bad-resources": "mandatory"}) as pack:
        [diagnostic] = pack.analyze(bucket("b1", bad=True))
    assert diagnostic.enforcement_level == "mandatory"  # policy_config was sent at boot
    assert diagnostic.message.endswith("b1 has bad=true (tags={'team': 'ml'})")  # ConfigureStack arrived
    assert stack.environment() == {
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_PROJECT": "proj",
        "PULUMI_STACK": "dev",
        "PULUMI_DRY_RUN": "true",
    }


def test_the_noop_pack_is_a_single_policy_that_never_fires() -> None:
    with PolicyPackProcess(NOOP_PACK) as pack:
        info = pack.info()
        results = pack.analyze_many([bucket(f"b{i}", bad=True) for i in range(20)], concurrency=4)
    assert [(p.name, p.policy_type) for p in info.policies] == [("noop", "resource")]
    assert results == [[]] * 20


def test_the_process_is_gone_after_the_block_even_when_it_raises() -> None:
    process = PolicyPackProcess(NOOP_PACK, shutdown_timeout=UNHURRIED_SHUTDOWN)
    with pytest.raises(RuntimeError, match="body failed"), process:
        pid = process.pid
        assert pid is not None and process.returncode is None
        raise RuntimeError("body failed")

    assert process.stop_signals == [signal.SIGINT]  # asked to stop, and never killed
    assert process.returncode == 0  # SIGINT let the SDK stop its server and exit cleanly
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(PolicyPackError, match="not running"):
        process.analyze(bucket("late"))


def test_spawn_starts_no_thread_so_the_caller_may_still_fork() -> None:
    process = PolicyPackProcess(NOOP_PACK, shutdown_timeout=UNHURRIED_SHUTDOWN)
    threads_before = threading.active_count()
    try:
        process.spawn()
        assert threading.active_count() == threads_before
        assert process.pid is not None and process.returncode is None
        reserved = process.engine_address
        assert reserved.startswith("127.0.0.1:")
        process.start()  # engine server on the reserved address, pumps, port, dial
        assert process.engine_address == reserved
        assert [p.name for p in process.info().policies] == ["noop"]
        assert process.analyze(bucket("after-spawn")) == []
        with grpc.insecure_channel(reserved) as channel:  # the engine really serves where the pack was told
            engine_pb2_grpc.EngineStub(channel).Log(engine_pb2.LogRequest(message="hello"), timeout=10)
        assert any(entry.message == "hello" for entry in process.engine.logs)
    finally:
        process.close()
    assert process.stop_signals == [signal.SIGINT]
    assert process.returncode == 0


def test_a_spawned_pack_that_is_never_started_is_still_stopped() -> None:
    process = PolicyPackProcess(NOOP_PACK)
    process.spawn()
    pid = process.pid
    process.close()
    assert process.stop_signals[:1] == [signal.SIGINT]  # a pack never exits by itself: it was asked first
    assert process.returncode is not None
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_pack_that_ignores_sigint_is_killed_after_the_grace(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text((NOOP_PACK / "PulumiPolicy.yaml").read_text())
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            f"""
            import runpy
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)  # set before the pack serves, so before close() asks
            runpy.run_path({str(NOOP_PACK / "__main__.py")!r}, run_name="__main__")
            """
        )
    )
    process = PolicyPackProcess(tmp_path, shutdown_timeout=0.5)
    with process:
        pid = process.pid
        assert process.analyze(bucket("served")) == []  # a working pack, deaf to SIGINT only
        closing = time.monotonic()

    assert time.monotonic() - closing >= 0.5  # the grace was given in full ...
    assert process.stop_signals == [signal.SIGINT, signal.SIGKILL]  # ... after asking, before killing
    assert process.returncode == -signal.SIGKILL
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_pack_that_dies_at_startup_is_reported_with_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            """
            raise RuntimeError("pack exploded before serving")
            """
        )
    )
    process = PolicyPackProcess(tmp_path, startup_timeout=30)

    with pytest.raises(PolicyPackStartError, match="pack exploded before serving") as failure:
        process.start()

    assert "exited (code 1) before printing its port" in str(failure.value)
    assert process.returncode == 1


def test_a_pack_that_never_prints_its_port_times_out_and_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("import time\ntime.sleep(120)\n")
    process = PolicyPackProcess(tmp_path, startup_timeout=1.5)

    with pytest.raises(PolicyPackStartError, match=r"did not print its port within 1\.5s"):
        process.start()

    assert process.returncode is not None


def test_a_directory_without_pulumipolicy_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyPackStartError, match="failed to load Pulumi policy project"):
        PolicyPackProcess(tmp_path)


def test_reconciliation_follows_the_cli_rules() -> None:
    info = AnalyzerInfo(
        name="p",
        display_name="",
        version="1",
        supports_config=True,
        description="",
        policies=(
            PolicyInfo("a", "", "", "mandatory"),
            PolicyInfo("b", "", "", "advisory", config_schema=ConfigSchema({"n": {"type": "number", "default": 1}})),
        ),
        # What the SDK sends for initial_config={"b": {"n": 2}}: no level, which proto3 turns into ADVISORY.
        initial_config={"b": PolicyConfig("advisory", {"n": 2})},
    )

    assert reconcile_policy_config(info) == {"a": PolicyConfig("mandatory"), "b": PolicyConfig("advisory", {"n": 2})}
    assert reconcile_policy_config(info, {"all": "disabled", "a": {"enforcementLevel": "advisory", "x": 1}}) == {
        "a": PolicyConfig("advisory", {"x": 1}),
        "b": PolicyConfig("disabled", {"n": 2}),
        "all": PolicyConfig("disabled"),  # the CLI forwards the "all" entry itself too
    }
