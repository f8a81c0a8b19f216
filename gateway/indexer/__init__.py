"""The gateway's indexer: every event of the followed contracts into SQL, exact under reorgs
and crashes.

- gateway.indexer.decode      logs -> events from the ABIs (topic0 tables, eth_abi-compatible fast path)
- gateway.indexer.sync        block ranges, head following, reorg detection and rollback (Indexer)
- gateway.indexer.store       SQL writes, checkpoint, undo log, writer lock, canonical dump
- gateway.indexer.projections pure functions events -> API tables
- gateway.indexer.status      tx_status (read-your-writes)
- gateway.indexer.metrics     render() -> Prometheus text
- gateway.indexer.cli         index_command (the `dataledger index` body), python -m gateway.indexer
"""
