"""Issue 11 High #1: the gateway must not hand out the datasets.

The public ``GET /v1/manifests/{cid}`` serves only public documents (manifests and valuation
reports recorded on chain, manifests uploaded through the API); a dataset file is served only by
``GET /v1/assets/{asset_id}/data/{cid}``, to a signed-in holder / authorised user of a live voucher
on that asset whom the chain's cross-border rule admits. Every attacker's path is tried here, on
SQLite and on PostgreSQL (each with its own anvil market).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount

from ledger.ipfs.unixfs import Cid
from tests.gateway.data_market import (
    app_routes,
    dclient,
    dmarket,
    issue,
    manifest_of,
    records,
    send,
    sha,
    token,
    try_send,
)

DESIGN = 3  # level-3 CN asset of holder_cn (demo.seed), no vouchers at seeding
LINE = 2  # level-2 CN asset: voucher line_use_2 -> bank_cn, line_use -> holder_hk (HK, cleared)
TAX = 1  # level-2 public data: voucher foshan held by holder_cn, bank_cn authorised


def encodings(cid: str) -> list[str]:
    """The same CID in other multibase spellings (base32 upper, base16, base58btc)."""
    c = Cid.decode(cid)
    b32 = base64.b32encode(c.binary).decode().rstrip("=")
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(c.binary, "big")
    b58 = ""
    while n:
        n, r = divmod(n, 58)
        b58 = alphabet[r] + b58
    return ["B" + b32.upper(), "f" + c.binary.hex(), "z" + b58]


def test_public_manifest_route_serves_no_dataset_file(dclient: Any, dmarket: Any) -> None:
    """The audit's PoC: anonymous GET /v1/manifests/{cid of data/records.csv} of a level-3 asset."""
    doc = manifest_of(dclient, DESIGN)
    assert doc["classification_level"] == 3
    for dist in doc["distributions"]:
        for spelling in [dist["cid"], *encodings(dist["cid"])]:
            r = dclient.get(f"/v1/manifests/{spelling}")
            assert r.status_code in (404, 422), (spelling, r.status_code)
            assert r.status_code == 422 or r.json()["error"] == "NotPublic"
            assert b"month,entity,value" not in r.content
    # the valuation report recorded on chain is public; the clearance's purpose document is not
    vals = dclient.get(f"/v1/assets/{LINE}").json()["valuations"]
    report = dclient.app.state.manifests.cid_text(vals[0]["report_cid"])
    assert dclient.get(f"/v1/manifests/{report}").status_code == 200
    from ledger.ipfs import open_store

    purpose = open_store(str(dmarket.state_dir / "ipfs")).add(
        b"Cross-border purpose: joint maintenance analytics with Kowloon Analytics")
    r = dclient.get(f"/v1/manifests/{purpose}")
    assert r.status_code == 404 and r.json()["error"] == "NotPublic"
    # a large file (multi-block dag-pb): refused from its root block's size, and a CID the store
    # does not hold answers the same (the route does not tell what the store holds)
    big = open_store(str(dmarket.state_dir / "ipfs")).add(b"month,entity,value\n" + b"x" * (3 << 20))
    assert big.startswith("bafy")
    r = dclient.get(f"/v1/manifests/{big}")
    assert r.status_code == 404 and r.json()["error"] == "NotPublic"
    from ledger.ipfs.unixfs import file_cid

    r = dclient.get(f"/v1/manifests/{file_cid(b'never stored')}")
    assert r.status_code == 404 and r.json()["error"] == "NotPublic"


def _get(client: Any, asset_id: int, cid: str, headers: Any = None) -> Any:
    return client.get(f"/v1/assets/{asset_id}/data/{cid}", headers=headers or {})


def test_holder_and_authorised_user_download_and_everyone_else_is_refused(dclient: Any, dmarket: Any) -> None:
    m = dmarket
    design_file = records(manifest_of(dclient, DESIGN))
    line_file = records(manifest_of(dclient, LINE))
    tax_file = records(manifest_of(dclient, TAX))

    # anonymous
    r = _get(dclient, LINE, line_file["cid"])
    assert r.status_code == 401 and r.json()["error"] == "Unauthorized"

    # the legitimate holder of a live voucher on the asset gets the file, byte-exact, uncached
    bank = token(dclient, m, "bank_cn")
    r = _get(dclient, LINE, line_file["cid"], bank)
    assert r.status_code == 200, r.text
    assert sha(r.content) == line_file["sha256"] and r.headers["cache-control"] == "private, no-store"
    assert 'filename="records.csv"' in r.headers["content-disposition"]
    # the same CID in another spelling is the same file
    assert _get(dclient, LINE, encodings(line_file["cid"])[0], bank).status_code == 200

    # a user authorised by the holder (bank_cn on the foshan voucher of the public-data asset)
    r = _get(dclient, TAX, tax_file["cid"], bank)
    assert r.status_code == 200 and sha(r.content) == tax_file["sha256"]

    # signed-in participant with no voucher at all
    mo = token(dclient, m, "holder_mo")
    r = _get(dclient, LINE, line_file["cid"], mo)
    assert r.status_code == 403 and r.json()["error"] == "NoLiveVoucher"

    # a holder of a voucher on ANOTHER asset asks for this asset's file ...
    r = _get(dclient, DESIGN, design_file["cid"], bank)
    assert r.status_code == 403 and r.json()["error"] == "NoLiveVoucher"
    # ... or asks it through the asset it is entitled to: not in that asset's manifest
    r = _get(dclient, LINE, design_file["cid"], bank)
    assert r.status_code == 404 and r.json()["error"] == "NotInManifest"
    # the manifest itself and other store objects are not "files" of the asset either
    line_manifest = dclient.get(f"/v1/assets/{LINE}", params={"verify": "false"}).json()["manifest_cid_text"]
    assert _get(dclient, LINE, line_manifest, bank).status_code == 404

    # malformed CIDs, path traversal and odd encodings: 4xx, never the file, never 500
    for bad in ["notacid0000", "bafy" + "a" * 60, "..%2F..%2Fstate%2Fipfs", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                line_file["cid"] + "%2F..%2F..", line_file["cid"] + "/../../x", "Qm" + "1" * 44,
                line_file["cid"][:-2]]:
        r = dclient.get(f"/v1/assets/{LINE}/data/{bad}", headers=bank)
        assert 400 <= r.status_code < 500 and b"month,entity,value" not in r.content, (bad, r.status_code)

    # a frozen voucher: refused; unfrozen: served again
    send(m, "DataVoucher", "freeze", "regulator", 4, "test freeze")  # line_use_2, bank_cn's
    dmarket.index()
    r = _get(dclient, LINE, line_file["cid"], bank)
    assert r.status_code == 403 and r.json()["error"] == "NoLiveVoucher", r.text
    send(m, "DataVoucher", "unfreeze", "regulator", 4, "test unfreeze")
    assert _get(dclient, LINE, line_file["cid"], bank).status_code == 200

    # a lapsed authorised user: the holder transfers the voucher away -> refused; back -> served
    v = issue(m, "holder_cn", "holder_cn", DESIGN)
    send(m, "DataVoucher", "authoriseUser", "holder_cn", v, m.address("bank_cn"), True)
    dmarket.index()
    assert _get(dclient, DESIGN, design_file["cid"], bank).status_code == 200
    send(m, "DataVoucher", "transferFrom", "holder_cn", m.address("holder_cn"), m.address("operator"), v)
    dmarket.index()
    r = _get(dclient, DESIGN, design_file["cid"], bank)
    assert r.status_code == 403 and r.json()["error"] == "NoLiveVoucher"
    send(m, "DataVoucher", "transferFrom", "operator", m.address("operator"), m.address("holder_cn"), v)
    dmarket.index()
    assert _get(dclient, DESIGN, design_file["cid"], bank).status_code == 200

    # a foreign user without clearance on the level-3 CN asset: the chain refuses the
    # authorisation itself (contracts with the cross-border rule on users) or the gateway does
    sg = token(dclient, m, "holder_sg")
    if try_send(m, "DataVoucher", "authoriseUser", "holder_cn", v, m.address("holder_sg"), True):
        dmarket.index()
        r = _get(dclient, DESIGN, design_file["cid"], sg)
        assert r.status_code == 403 and r.json()["error"] == "CrossBorderRestricted", r.text
        assert r.json()["values"]["vouchers"][0]["code"] == 11

    # a foreign holder WITH clearance (holder_hk, line_use) is served; the clearance revoked -> refused
    hk = token(dclient, m, "holder_hk")
    assert _get(dclient, LINE, line_file["cid"], hk).status_code == 200
    send(m, "DataCustoms", "revokeClearance", "customs", 1, "test revocation")
    dmarket.index()
    r = _get(dclient, LINE, line_file["cid"], hk)
    assert r.status_code == 403 and r.json()["error"] == "CrossBorderRestricted"

    # a revoked voucher
    send(m, "DataVoucher", "revoke", "regulator", 4, "test revoke")
    dmarket.index()
    assert _get(dclient, LINE, line_file["cid"], bank).status_code == 403


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda mt: values.get(mt.group(1), "1"), path)


def test_no_other_route_serves_store_bytes(dclient: Any, dmarket: Any) -> None:
    """Every GET route of the app (from its route table: a new route is covered automatically)
    and the static mount, asked anonymously with a dataset file's CID in every path parameter."""
    data_cid = records(manifest_of(dclient, DESIGN))["cid"]
    body = dclient.app.state.manifests.store.cat(data_cid)
    needle = body[:40]
    values = {"cid": data_cid, "asset_id": str(DESIGN), "voucher_id": "1", "clearance_id": "1",
              "account": dmarket.address("holder_cn"), "tx_hash": "0x" + "ab" * 32, "trade_id": "0x" + "ab" * 32,
              "path": f"../../state/ipfs/{data_cid}"}
    seen = 0
    for path, methods, route in app_routes(dclient.app):
        if isinstance(route, Mount):
            for probe in (f"{path}/{data_cid}", f"{path}/../state/ipfs/{data_cid}",
                          f"{path}/..%2F..%2Fstate%2Fipfs%2F{data_cid}"):
                r = dclient.get(probe)
                assert needle not in r.content, probe
            continue
        if "GET" not in methods or path.endswith("/data/{cid}"):
            continue
        url = _fill(path, values)
        params = {"q": data_cid} if "search" in path else {}
        r = dclient.get(url, params=params)
        seen += 1
        assert needle not in r.content, (path, r.status_code)
        assert r.status_code < 500 or r.status_code == 503, (path, r.status_code, r.text[:200])
        if isinstance(route, APIRoute) and "/manifests/" in path:
            assert r.status_code == 404
    assert seen > 20
