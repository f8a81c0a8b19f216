"""The demo market of `make up` (ledger.demo_market): ~30 organisations with verified bilingual
profiles, ~50 bilingual datasets, six months of activity, seeded on a fresh anvil whose genesis is six
months back, then indexed with its documents. The seeding time is measured and printed."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from web3 import Web3

from dataledger.dev import demo
from dataledger.dev.anvil import AnvilError, AnvilNode
from gateway.indexer.sync import IndexerConfig, run_indexer
from ledger.deploy import deploy_all, deployment_record, write_deployment
from ledger.deployment import Deployment


def test_the_demo_market_is_worth_reading(capsys: pytest.CaptureFixture[str]) -> None:
    node = AnvilNode(extra_args=("--timestamp", str(int(time.time()) - 183 * 86400)))
    try:
        node.start()
    except AnvilError as exc:
        pytest.fail(f"anvil could not start: {exc}", pytrace=False)
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
        state = Path(tempfile.mkdtemp(prefix="dl-market-"))
        t0 = time.monotonic()
        contracts = deploy_all(w3, demo.demo_accounts()["authority"])
        record = deployment_record(w3, contracts)
        write_deployment(state, record)
        summary = demo.seed(w3, contracts, state, size="market")
        seconds = time.monotonic() - t0
        with capsys.disabled():
            print(f"\ndemo market: deploy + seed {seconds:.1f}s: {summary}")
        url = f"sqlite:///{state / 'g.db'}"
        run_indexer(node.rpc_url, url, Deployment.from_dict(record).entries(), IndexerConfig(ipfs=str(state / "ipfs")))
        engine = create_engine(url)
        with engine.connect() as conn:
            def one(sql: str) -> int:
                return int(conn.execute(text(sql)).scalar_one())

            assert one("SELECT COUNT(*) FROM organisations") == 31
            assert one("SELECT COUNT(*) FROM assets") == 50
            jurisdictions = {r[0] for r in conn.execute(text("SELECT DISTINCT jurisdiction FROM organisations"))}
            assert jurisdictions == {"CN", "HK", "MO", "SG", "DE", "JP"}
            # every profile and manifest fetched and verified, with both languages
            docs = Counter((str(k), str(s)) for k, s in conn.execute(text("SELECT kind, status FROM documents")))
            assert docs[("profile", "verified")] == 31 and docs[("manifest", "verified")] == 50
            assert set(s for _k, s in docs) == {"verified"}
            assert one("SELECT COUNT(*) FROM documents WHERE kind = 'manifest' AND (title_zh IS NULL OR title IS NULL)") == 0
            assert one("SELECT COUNT(*) FROM documents WHERE kind = 'profile' AND (name_zh IS NULL OR name_en IS NULL)") == 0
            # six months of activity: trades in at least five distinct months, both exchanges, brokers
            months = {datetime.fromtimestamp(int(r[0]), UTC).strftime("%Y-%m")
                      for r in conn.execute(text("SELECT settled_at FROM trades"))}
            assert len(months) >= 5, months
            assert one("SELECT COUNT(DISTINCT exchange) FROM trades") == 2
            assert one("SELECT COUNT(*) FROM trades") >= 20 and one("SELECT COUNT(*) FROM broker_payments") >= 3
            assert one("SELECT COUNT(*) FROM voucher_uses") >= 50 and one("SELECT COUNT(*) FROM valuations") >= 20
            statuses = Counter(str(r[0]) for r in conn.execute(text("SELECT status FROM clearances")))
            assert statuses["approved"] >= 5 and statuses["rejected"] >= 2
            events = Counter(str(r[0]) for r in conn.execute(text("SELECT event FROM events")))
            assert events["VoucherFrozen"] == 2 and events["VoucherUnfrozen"] == 2
            assert events["RecoveryProposed"] == 1 and events["VoucherRecovered"] == 1
            # the small seed's ids stay the first ones
            assert conn.execute(text("SELECT price FROM trades WHERE voucher_id = 3")).scalar_one() == "15000000"
        # the chain's clock ends at the wall clock
        assert abs(int(w3.eth.get_block("latest")["timestamp"]) - time.time()) < 86400
        engine.dispose()
    finally:
        node.stop()
