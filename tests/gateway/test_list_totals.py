"""List totals at scale (issue 15 part 6): every list counts its matches up to ``TOTAL_CAP``
(10,000) only; below the cap ``total`` is exact (``total_exact`` true), beyond it ``total_exact`` is
false and ``total`` a lower bound; the web lists and their CSV stay correct with such a total.
On SQLite and PostgreSQL: the seeded market indexed into a fresh database, plus 10,050 vouchers
written into its ``vouchers`` table (holder A: exactly 10,000, holder B: 50; asset 99: 10,001)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text

from gateway.api.common import TOTAL_CAP
from gateway.indexer.sync import IndexerConfig, run_indexer
from gateway.models import Voucher
from ledger.deployment import Deployment
from tests.gateway.api_fixtures import Market, market
from tests.gateway.indexer_fixtures import new_postgres_database

HOLDER_A = "0x" + "a1" * 20  # exactly TOTAL_CAP vouchers: the boundary, still exact
HOLDER_B = "0x" + "b2" * 20
EXTRA = TOTAL_CAP + 50
FIRST_ID = 1_000_000
FROZEN = 30  # of holder B's
EXPIRED = 5  # of holder B's: active, valid_until past


def _voucher(i: int) -> dict[str, Any]:
    holder = HOLDER_A if i < TOTAL_CAP else HOLDER_B
    return dict(voucher_id=FIRST_ID + i, asset_id=99 if i <= TOTAL_CAP else 98, issuer="0x" + "c3" * 20,
                holder=holder, right=0, scope_hash="0x" + "00" * 32, valid_from=0,
                valid_until=1 if TOTAL_CAP <= i < TOTAL_CAP + EXPIRED else 2**40, max_uses=0,
                uses=0, transferable=True, status="frozen" if i >= EXTRA - FROZEN else "active", issued_block=1,
                issued_tx="0x" + "00" * 32, issued_at=1_700_000_000, updated_block=1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big(request: pytest.FixtureRequest, market: Market, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[TestClient, int]]:
    """A client over the market's index plus EXTRA vouchers; and the number of vouchers in all."""
    from gateway.main import create_app

    if request.param == "postgres":
        url = new_postgres_database(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('totals') / 'g.db'}"
    run_indexer(market.rpc_url, url, Deployment.from_dict(market.record).entries(),
                IndexerConfig(ipfs=str(market.state_dir / "ipfs")))
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Voucher.__table__), [_voucher(i) for i in range(EXTRA)])  # type: ignore[attr-defined]
            n = int(conn.execute(text("SELECT COUNT(*) FROM vouchers")).scalar_one())
    finally:
        engine.dispose()
    with TestClient(create_app(market.settings(DATABASE_URL=url))) as c:
        yield c, n


def _get(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.get("/v1/vouchers", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_total_is_capped_beyond_the_cap_and_exact_below_it(big: tuple[TestClient, int]) -> None:
    c, n = big
    assert n > EXTRA  # the market's own vouchers and ours
    every = _get(c, limit=50)
    assert (every["total"], every["total_exact"], len(every["items"])) == (TOTAL_CAP, False, 50)
    # the boundary: exactly TOTAL_CAP matches is still exact; one more is not
    a = _get(c, holder=HOLDER_A, limit=10)
    assert (a["total"], a["total_exact"]) == (TOTAL_CAP, True)
    by_asset = _get(c, asset_id=99)
    assert (by_asset["total"], by_asset["total_exact"]) == (TOTAL_CAP, False)
    b = _get(c, holder=HOLDER_B, limit=10)
    assert (b["total"], b["total_exact"]) == (50, True)
    frozen = _get(c, status="frozen")
    assert (frozen["total"], frozen["total_exact"], len(frozen["items"])) == (FROZEN, True, FROZEN)
    assert all(v["status"] == "frozen" for v in frozen["items"])
    active = _get(c, status="active", limit=1)
    assert (active["total"], active["total_exact"]) == (TOTAL_CAP, False)
    # past the cap the lower bound grows with the page: offset + the page's rows
    deep = _get(c, offset=TOTAL_CAP, limit=10)
    assert (deep["total"], deep["total_exact"], len(deep["items"])) == (TOTAL_CAP + 10, False, 10)
    # a short last page: the exact total, with no count
    last = _get(c, offset=n - 7, limit=50)
    assert (last["total"], last["total_exact"], len(last["items"])) == (n, True, 7)
    assert last["items"][-1]["voucher_id"] == FIRST_ID + EXTRA - 1
    # an empty page past the end of more than the cap: only the cap is known (no count past it)
    past = _get(c, offset=n + 5, limit=50)
    assert (past["total"], past["total_exact"], past["items"]) == (TOTAL_CAP, False, [])
    # an empty page past the end of fewer: the exact total
    none = _get(c, holder=HOLDER_B, offset=60)
    assert (none["total"], none["total_exact"], none["items"]) == (50, True, [])
    # a page ending exactly at the end (full, so counted) is exact too
    edge = _get(c, holder=HOLDER_B, offset=40, limit=10)
    assert (edge["total"], edge["total_exact"], len(edge["items"])) == (50, True, 10)


def test_other_lists_carry_total_exact(big: tuple[TestClient, int]) -> None:
    c, _ = big
    for path in ("/v1/assets", "/v1/participants", "/v1/trades", "/v1/organisations", "/v1/clearances"):
        body = c.get(path).json()
        assert body["total_exact"] is True and body["total"] == len(body["items"]), path


def test_openapi_documents_total_exact(big: tuple[TestClient, int]) -> None:
    c, _ = big
    schemas = c.get("/openapi.json").json()["components"]["schemas"]
    page = schemas["Page_VoucherOut_"]["properties"]
    assert page["total_exact"]["type"] == "boolean" and "10,000" in page["total_exact"]["description"]
    assert "lower bound" in page["total"]["description"]


def test_list_page_shows_a_capped_total_and_pages_on(big: tuple[TestClient, int]) -> None:
    c, n = big
    html = c.get("/vouchers?lang=en").text
    head = re.search(r'<small id="list-total" data-exact="false">([^<]*)</small>', html)
    assert head and head.group(1) == "more than 10,000 (counting stops there)", html[:2000]
    assert "Rows 1–50 of 10,000+" in html and 'id="page-next"' in html
    zh = c.get("/vouchers?lang=zh-Hans").text
    assert "超过 10,000 条" in zh and "共 10,000 条以上" in zh
    # deep past the cap: still a next page while pages are full
    deep = c.get(f"/vouchers?lang=en&offset={TOTAL_CAP + 1}").text
    assert f"Rows {TOTAL_CAP + 2}–{TOTAL_CAP + 51} of {TOTAL_CAP + 51:,}+" in deep, re.findall(r'"pager">[^<]*', deep)
    assert 'id="page-next"' in deep
    # the last page: exact total, no next page
    last = c.get(f"/vouchers?lang=en&offset={n - 3}").text
    assert re.search(r'data-exact="true">' + re.escape(f"{n:,} in all"), last) and 'id="page-next"' not in last
    # a filter below the cap: exact
    frozen = c.get("/vouchers?lang=en&status=frozen").text
    assert f'data-exact="true">{FROZEN} in all' in frozen and 'id="page-next"' not in frozen
    # the CSV of a capped list: exactly the page's rows, in order
    rows = list(csv.reader(io.StringIO(c.get("/vouchers.csv?lang=en&limit=20").content.decode("utf-8-sig"))))
    assert len(rows) == 21
    deep_csv = list(csv.reader(io.StringIO(
        c.get(f"/vouchers.csv?lang=en&limit=5&offset={n - 5}").content.decode("utf-8-sig"))))
    assert [r[0] for r in deep_csv[1:]] == [str(FIRST_ID + EXTRA - 5 + i) for i in range(5)]


def test_web_status_filter_equals_the_api(big: tuple[TestClient, int]) -> None:
    """The web list's status filter (written for the index) selects what GET /v1/vouchers?status= does:
    the effective status, expired = active past valid_until."""
    c, _ = big
    for status in ("expired", "frozen", "revoked", "active"):
        offset = TOTAL_CAP - 100 if status == "active" else 0  # the active page spans the expired ids
        api = [str(v["voucher_id"]) for v in _get(c, status=status, limit=500, offset=offset)["items"]]
        body = c.get(f"/vouchers.csv?lang=en&limit=500&offset={offset}&status={status}").content.decode("utf-8-sig")
        web = [r[0] for r in list(csv.reader(io.StringIO(body)))[1:]]
        assert web == api, status
        if status == "expired":
            assert {str(FIRST_ID + TOTAL_CAP + i) for i in range(EXPIRED)} <= set(web)
        if status == "active":
            assert not {str(FIRST_ID + TOTAL_CAP + i) for i in range(EXPIRED)} & set(web)
            assert str(FIRST_ID + TOTAL_CAP - 1) in web and str(FIRST_ID + TOTAL_CAP + EXPIRED) in web
