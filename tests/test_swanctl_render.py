"""The swanctl.conf renderer: exact proposals, the crypto policy's refusals, lifetimes, determinism.

Whether strongSwan accepts and negotiates what is rendered here is tested for real in
test_vpn_negotiation.py; these tests pin the text itself.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from typing import Any

import pytest

from components.vpn.swanctl import (
    STRENGTH_ORDER,
    TunnelSpec,
    esp_proposals,
    ike_proposals,
    ike_retransmission_for,
    render_swanctl_conf,
)

PSK = "Tunnel1.Secret_key"


def make_spec(**overrides: Any) -> TunnelSpec:
    fields: dict[str, Any] = {
        "name": "tun1",
        "local_outside_ip": "192.0.2.10",
        "remote_outside_ip": "198.51.100.10",
        "local_inside_ip": "169.254.10.2/30",
        "remote_inside_ip": "169.254.10.1/30",
        "psk": PSK,
        "local_traffic_selectors": ["10.10.0.0/16"],
        "remote_traffic_selectors": ["10.20.0.0/16"],
    }
    fields.update(overrides)
    return TunnelSpec(**fields)


def parse_conf(text: str) -> dict[str, Any]:
    """A nested dict of a swanctl.conf (sections, ``key = value``), failing on anything else."""
    root: dict[str, Any] = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Za-z0-9_-]+) = (.+)", line):
            assert m.group(1) not in stack[-1], f"duplicate setting {line!r}"
            stack[-1][m.group(1)] = m.group(2)
        elif m := re.fullmatch(r"([A-Za-z0-9_-]+) \{", line):
            section: dict[str, Any] = {}
            stack[-1][m.group(1)] = section
            stack.append(section)
        elif line == "}":
            stack.pop()
        else:
            raise AssertionError(f"not one setting per line: {line!r}")
    assert len(stack) == 1, "unbalanced braces"
    return root


# --- proposals -------------------------------------------------------------------------------


def test_default_spec_offers_exactly_the_policy() -> None:
    spec = make_spec()  # the defaults list DH 20, 19, 21: a set, offered strongest first
    assert ike_proposals(spec) == ["aes256gcm16-prfsha384-prfsha256-ecp521-ecp384-ecp256"]
    assert esp_proposals(spec) == ["aes256gcm16-ecp521-ecp384-ecp256"]
    conf = parse_conf(render_swanctl_conf([spec]))
    conn = conf["connections"]["tun1"]
    assert conn["proposals"] == "aes256gcm16-prfsha384-prfsha256-ecp521-ecp384-ecp256"
    assert conn["children"]["tun1"]["esp_proposals"] == "aes256gcm16-ecp521-ecp384-ecp256"
    assert conn["version"] == "2"


def test_gcm_takes_its_prf_from_the_integrity_list() -> None:
    spec = make_spec(ike_integrity=["SHA2-384"], ike_dh_groups=[20], esp_dh_groups=[20])
    assert ike_proposals(spec) == ["aes256gcm16-prfsha384-ecp384"]
    assert esp_proposals(spec) == ["aes256gcm16-ecp384"]


def test_cbc_carries_integrity_and_prf() -> None:
    spec = make_spec(
        ike_encryption=["AES256"],
        ike_integrity=["SHA2-256"],
        ike_dh_groups=[19],
        esp_encryption=["AES256"],
        esp_integrity=["SHA2-256"],
        esp_dh_groups=[19],
    )
    assert ike_proposals(spec) == ["aes256-sha256-prfsha256-ecp256"]
    assert esp_proposals(spec) == ["aes256-sha256-ecp256"]


def test_aead_and_cbc_get_separate_proposals_strongest_first() -> None:
    # strongSwan rejects a proposal mixing an AEAD with a classic cipher, hence one per algorithm.
    spec = make_spec(
        ike_encryption=["AES256", "AES256-GCM-16"],
        ike_integrity=["SHA2-256", "SHA2-384"],
        ike_dh_groups=[19, 21],
        esp_encryption=["AES256", "AES256-GCM-16"],
        esp_integrity=["SHA2-384"],
        esp_dh_groups=[19],
    )
    assert ike_proposals(spec) == [
        "aes256gcm16-prfsha384-prfsha256-ecp521-ecp256",
        "aes256-sha384-sha256-prfsha384-prfsha256-ecp521-ecp256",
    ]
    assert esp_proposals(spec) == ["aes256gcm16-ecp256", "aes256-sha384-ecp256"]
    conn = parse_conf(render_swanctl_conf([spec]))["connections"]["tun1"]
    assert conn["proposals"] == ", ".join(ike_proposals(spec))
    assert conn["children"]["tun1"]["esp_proposals"] == ", ".join(esp_proposals(spec))


def test_shuffled_sets_render_identically_strongest_first() -> None:
    """AWS returns the lists as sets in an order of its own (TypeSet): every permutation of every
    list must give byte-identical files, with GCM, SHA2-384 and ECP-521 offered first."""
    full: dict[str, list[Any]] = {
        "ike_encryption": ["AES256", "AES256-GCM-16"],
        "esp_encryption": ["AES256", "AES256-GCM-16"],
        "ike_integrity": ["SHA2-256", "SHA2-384"],
        "esp_integrity": ["SHA2-256", "SHA2-384"],
        "ike_dh_groups": [19, 20, 21],
        "esp_dh_groups": [19, 20, 21],
    }
    seen: set[tuple[Any, ...]] = set()
    for n in range(24):  # each list gets the permutation number n modulo its own count
        shuffled = {
            key: list(itertools.permutations(values))[n % math.factorial(len(values))] for key, values in full.items()
        }
        seen.add(tuple(shuffled["ike_dh_groups"]))
        seen.add(tuple(shuffled["ike_encryption"]))
        spec = make_spec(**shuffled)
        assert render_swanctl_conf([spec]) == render_swanctl_conf([make_spec(**full)])
        assert spec == make_spec(**full)
    assert len(seen) == 6 + 2, "every DH permutation and both encryption orders were tried"
    conn = parse_conf(render_swanctl_conf([make_spec(**full)]))["connections"]["tun1"]
    assert conn["proposals"] == (
        "aes256gcm16-prfsha384-prfsha256-ecp521-ecp384-ecp256, "
        "aes256-sha384-sha256-prfsha384-prfsha256-ecp521-ecp384-ecp256"
    )
    assert conn["children"]["tun1"]["esp_proposals"] == (
        "aes256gcm16-ecp521-ecp384-ecp256, aes256-sha384-sha256-ecp521-ecp384-ecp256"
    )


def test_the_strength_order_covers_exactly_the_policy() -> None:
    # A value the policy allows but the order does not rank would make sorting fail at render time.
    spec = make_spec(
        ike_encryption=list(STRENGTH_ORDER["encryption"]),
        ike_integrity=list(STRENGTH_ORDER["integrity"]),
        ike_dh_groups=list(STRENGTH_ORDER["dh_groups"]),
    )
    assert spec.ike_encryption == STRENGTH_ORDER["encryption"]
    assert spec.ike_dh_groups == (21, 20, 19)


@pytest.mark.parametrize(("group", "keyword"), [(19, "ecp256"), (20, "ecp384"), (21, "ecp521")])
def test_dh_group_numbers_map_to_ecp_curves(group: int, keyword: str) -> None:
    spec = make_spec(ike_dh_groups=[group], esp_dh_groups=[group])
    assert ike_proposals(spec)[0].endswith(f"-{keyword}")
    assert esp_proposals(spec)[0].endswith(f"-{keyword}")


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("ike_encryption", ["AES128"], "weaker"),
        ("ike_encryption", ["AES256-GCM-16", "AES128-GCM-16"], "weaker"),
        ("esp_encryption", ["AES128"], "weaker"),
        ("esp_encryption", ["3DES"], "weaker"),
        ("ike_encryption", ["CHACHA20"], "not an allowed"),
        ("ike_integrity", ["SHA1"], "weaker"),
        ("ike_integrity", ["SHA2-384", "SHA1"], "weaker"),
        ("esp_integrity", ["SHA1"], "weaker"),
        ("esp_integrity", ["MD5"], "weaker"),
        ("ike_dh_groups", [2], "weaker"),
        ("ike_dh_groups", [20, 5], "weaker"),
        ("esp_dh_groups", [5], "weaker"),
        ("ike_dh_groups", [14], "outside the project policy"),
        ("esp_dh_groups", [24], "outside the project policy"),
        ("ike_dh_groups", [True], "not a DH group"),
        ("ike_versions", ["ikev1"], "IKEv1"),
        ("ike_versions", ["ikev1", "ikev2"], "IKEv1"),
        ("ike_encryption", [], "must not be empty"),
        ("esp_dh_groups", [], "must not be empty"),
        ("ike_integrity", ["SHA2-384", "SHA2-384"], "duplicate"),
        ("ike_encryption", "AES256-GCM-16", "expected a list"),
        ("dpd_action", "clear", "restart"),
        ("dpd_timeout_seconds", 29, "minimum of 30"),
        ("ike_lifetime_seconds", 28801, "outside AWS"),
        ("esp_lifetime_seconds", 28800, "shorter than"),
        ("rekey_margin_seconds", 1801, "half of"),
        ("rekey_margin_seconds", 59, "minimum of 60"),
        ("rekey_fuzz_percentage", 101, "0-100"),
        ("dpd_delay_seconds", 30, "shorter than"),
        ("startup_action", "trap", "must be one of"),
        ("local_inside_ip", "169.254.1.2/30", "reserved by AWS"),
        ("remote_inside_ip", "169.254.11.1/30", "same /30"),
        ("local_inside_ip", "10.0.0.2/30", "169.254.0.0/16"),
        ("local_inside_ip", "169.254.10.3/30", "broadcast"),
        ("remote_inside_ip", "169.254.10.2/30", "must differ"),
        ("local_outside_ip", "not-an-ip", "not an IP address"),
        ("remote_outside_ip", "192.0.2.10", "must differ"),
        ("local_traffic_selectors", ["10.10.0.1/16"], "CIDR"),
        ("remote_traffic_selectors", [], "must not be empty"),
        ("name", "tun.1", "must match"),
    ],
)
def test_rejects_with_the_field_named(field: str, value: Any, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)) as info:
        make_spec(**{field: value})
    assert str(info.value).startswith(f"{field}:"), str(info.value)


def test_short_timers_need_the_explicit_test_flag_and_crypto_policy_still_holds() -> None:
    short = {"dpd_timeout_seconds": 3, "dpd_delay_seconds": 1, "ike_lifetime_seconds": 600, "esp_lifetime_seconds": 300}
    with pytest.raises(ValueError, match="dpd_timeout_seconds"):
        make_spec(**short, rekey_margin_seconds=30)
    make_spec(**short, rekey_margin_seconds=30, allow_short_timers=True)
    with pytest.raises(ValueError, match="ike_integrity"):
        make_spec(**short, rekey_margin_seconds=30, allow_short_timers=True, ike_integrity=["SHA1"])


@pytest.mark.parametrize("psk", ["short", "0StartsWithZero", "has space in it", 'quote"d-key', "x" * 65])
def test_rejects_bad_psk_without_echoing_it(psk: str) -> None:
    with pytest.raises(ValueError, match=r"^psk:") as info:
        make_spec(psk=psk)
    assert psk not in str(info.value)


def test_psk_stays_out_of_repr_but_lands_hex_encoded_in_secrets() -> None:
    spec = make_spec()
    assert PSK not in repr(spec)
    text = render_swanctl_conf([spec])
    assert PSK not in text
    secret = parse_conf(text)["secrets"]["ike-tun1"]
    assert secret == {"id-local": "192.0.2.10", "id-remote": "198.51.100.10", "secret": "0x" + PSK.encode().hex()}


def test_render_rejects_ambiguous_tunnel_sets() -> None:
    spec = make_spec()
    with pytest.raises(ValueError, match="at least one"):
        render_swanctl_conf([])
    with pytest.raises(ValueError, match="duplicate tunnel names"):
        render_swanctl_conf([spec, replace(spec, remote_outside_ip="198.51.100.20")])
    with pytest.raises(ValueError, match="same local and remote outside"):
        render_swanctl_conf([spec, replace(spec, name="tun2")])


# --- lifetimes, actions, layout --------------------------------------------------------------


def test_aws_default_lifetimes_map_to_rekey_and_hard_limits() -> None:
    conn = parse_conf(render_swanctl_conf([make_spec()]))["connections"]["tun1"]
    # IKE_SA: rekey from 28800 - 270 s (minus up to 270 s of jitter), hard end at 28800 s.
    assert (conn["rekey_time"], conn["over_time"], conn["rand_time"]) == ("28530s", "270s", "270s")
    child = conn["children"]["tun1"]
    assert (child["rekey_time"], child["life_time"], child["rand_time"]) == ("3330s", "3600s", "270s")


def test_custom_lifetimes_margin_and_fuzz() -> None:
    spec = make_spec(
        ike_lifetime_seconds=14400, esp_lifetime_seconds=1800, rekey_margin_seconds=120, rekey_fuzz_percentage=50
    )
    conn = parse_conf(render_swanctl_conf([spec]))["connections"]["tun1"]
    assert (conn["rekey_time"], conn["over_time"], conn["rand_time"]) == ("14280s", "120s", "60s")
    child = conn["children"]["tun1"]
    assert (child["rekey_time"], child["life_time"], child["rand_time"]) == ("1680s", "1800s", "60s")
    # Phase 2 always ends before phase 1 is due for rekeying.
    assert int(child["life_time"][:-1]) < int(conn["rekey_time"][:-1])


def test_dpd_and_startup_actions() -> None:
    initiator = parse_conf(render_swanctl_conf([make_spec(dpd_delay_seconds=10)]))["connections"]["tun1"]
    assert initiator["dpd_delay"] == "10s"
    assert initiator["keyingtries"] == "0"
    assert initiator["mobike"] == "no"
    child = initiator["children"]["tun1"]
    assert (child["start_action"], child["close_action"], child["dpd_action"]) == ("start", "start", "restart")
    # IKEv2 has no dpd_timeout setting in swanctl that would take effect; it must not pretend to.
    assert "dpd_timeout" not in initiator

    responder = parse_conf(render_swanctl_conf([make_spec(startup_action="add")]))["connections"]["tun1"]
    assert responder["keyingtries"] == "1"
    assert responder["children"]["tun1"]["start_action"] == "none"
    assert responder["children"]["tun1"]["close_action"] == "none"


def test_addresses_ids_and_selectors() -> None:
    spec = make_spec(local_traffic_selectors=["10.10.0.0/16", "10.11.0.0/16"])
    conn = parse_conf(render_swanctl_conf([spec]))["connections"]["tun1"]
    assert conn["local_addrs"] == "192.0.2.10"
    assert conn["remote_addrs"] == "198.51.100.10"
    assert conn["local"] == {"auth": "psk", "id": "192.0.2.10"}
    assert conn["remote"] == {"auth": "psk", "id": "198.51.100.10"}
    child = conn["children"]["tun1"]
    assert child["local_ts"] == "10.10.0.0/16, 10.11.0.0/16"
    assert child["remote_ts"] == "10.20.0.0/16"
    assert child["mode"] == "tunnel"


def test_two_tunnels_render_in_order_with_a_secret_each() -> None:
    tun1 = make_spec()
    tun2 = make_spec(
        name="tun2",
        remote_outside_ip="198.51.100.20",
        local_inside_ip="169.254.10.6/30",
        remote_inside_ip="169.254.10.5/30",
        psk="Tunnel2.Secret_key",
    )
    conf = parse_conf(render_swanctl_conf([tun1, tun2]))
    assert list(conf["connections"]) == ["tun1", "tun2"]
    assert list(conf["secrets"]) == ["ike-tun1", "ike-tun2"]
    assert conf["secrets"]["ike-tun2"]["secret"] == "0x" + b"Tunnel2.Secret_key".hex()


def test_output_is_deterministic_and_one_setting_per_line() -> None:
    def build() -> str:
        specs = [make_spec(), make_spec(name="tun2", remote_outside_ip="198.51.100.20")]
        return render_swanctl_conf(specs, role_comment="on-prem gateway\nfacing AWS eu-central-1")

    first = build()
    assert first == build()
    assert (
        first.encode()
        == render_swanctl_conf(
            [make_spec(), make_spec(name="tun2", remote_outside_ip="198.51.100.20")],
            role_comment="on-prem gateway\nfacing AWS eu-central-1",
        ).encode()
    )
    assert first.endswith("\n") and not first.endswith("\n\n")
    assert "# on-prem gateway\n# facing AWS eu-central-1\n" in first
    parse_conf(first)  # raises on any line that is not exactly one setting, section or brace


def test_mirrored_swaps_the_sides_and_keeps_the_policy() -> None:
    spec = make_spec()
    peer = spec.mirrored(name="aws1")
    assert (peer.local_outside_ip, peer.remote_outside_ip) == ("198.51.100.10", "192.0.2.10")
    assert (peer.local_inside_ip, peer.remote_inside_ip) == ("169.254.10.1/30", "169.254.10.2/30")
    assert peer.local_traffic_selectors == spec.remote_traffic_selectors
    assert peer.startup_action == "add"
    assert ike_proposals(peer) == ike_proposals(spec)
    assert esp_proposals(peer) == esp_proposals(spec)
    assert peer.mirrored(name="tun1", startup_action="start") == spec


def test_specs_are_hashable_values() -> None:
    assert make_spec(ike_dh_groups=[20, 19]) == make_spec(ike_dh_groups=(20, 19))
    assert len({make_spec(), make_spec()}) == 1


# --- IKEv2 liveness timeout -------------------------------------------------------------------


def test_retransmission_turns_dpd_timeout_into_charon_settings() -> None:
    aws_default = ike_retransmission_for([make_spec()])
    assert (aws_default.timeout_seconds, aws_default.tries, aws_default.base) == (5.0, 5, 1.0)
    assert aws_default.total_seconds == 30.0
    assert aws_default.strongswan_conf_lines() == [
        "retransmit_timeout = 5.000",
        "retransmit_tries = 5",
        "retransmit_base = 1.000",
    ]
    short = make_spec(
        name="t2",
        remote_outside_ip="198.51.100.20",
        dpd_timeout_seconds=3,
        dpd_delay_seconds=1,
        allow_short_timers=True,
    )
    # One daemon serves both tunnels, so the shorter timeout wins.
    assert ike_retransmission_for([make_spec(), short]).total_seconds == pytest.approx(3.0)
    with pytest.raises(ValueError, match="tunnels"):
        ike_retransmission_for([])


# --- route-based tunnels (XFRM interfaces) ------------------------------------------------------


def test_route_based_tunnel_binds_its_sas_to_one_interface() -> None:
    spec = make_spec(local_traffic_selectors=["0.0.0.0/0"], remote_traffic_selectors=["0.0.0.0/0"], if_id=3)
    conn = parse_conf(render_swanctl_conf([spec]))["connections"]["tun1"]
    assert (conn["if_id_in"], conn["if_id_out"]) == ("3", "3")
    child = conn["children"]["tun1"]
    assert (child["local_ts"], child["remote_ts"]) == ("0.0.0.0/0", "0.0.0.0/0")
    # A policy-based tunnel carries no interface id at all.
    assert "if_id_in" not in parse_conf(render_swanctl_conf([make_spec()]))["connections"]["tun1"]


@pytest.mark.parametrize("if_id", [0, -1, 0xFFFFFFFF, True, "3"])
def test_bad_interface_id_is_refused(if_id: Any) -> None:
    with pytest.raises(ValueError, match="if_id: "):
        make_spec(if_id=if_id)


def test_mirrored_takes_the_peers_own_interface_id() -> None:
    spec = make_spec(if_id=7)
    assert spec.mirrored().if_id is None  # AWS's side has no interface of ours
    assert spec.mirrored(if_id=9).if_id == 9
