"""Independent provenance verification: re-check what the gateway serves against a node.

- :func:`verify_history` (gateway.verify.core): rebuild a voucher's / asset's history from the
  chain (eth_getLogs), prove every event (canonical block, header hash, receipts root over all the
  block's receipts, the log in its receipt), check manifests on IPFS, and compare with a gateway
  (:class:`HttpSource`, :class:`SqlSource`) naming every difference.
- :func:`build_bundle` / :func:`verify_bundle` (gateway.verify.bundle): a self-contained JSON proof
  bundle, checked offline against a trusted head hash.
- gateway.verify.receipts: RLP, Merkle-Patricia trie roots, receipt and header encodings.
- gateway.verify.qbft: Besu QBFT extraData, block hashing, commit seals against a validator set
  (bundles anchored with ``validators=`` / ``--validators FILE``).
- gateway.verify.selection: which events make up a history (shared with the provenance API).
- :func:`main` (gateway.verify.cli): ``dataledger verify`` / ``python -m gateway.verify``.
"""

from gateway.verify.bundle import BundleError, build_bundle, dumps, load_bundle, verify_bundle, write_bundle
from gateway.verify.cli import main
from gateway.verify.comparison import compare
from gateway.verify.core import verify_history
from gateway.verify.history import rebuild
from gateway.verify.node import Node
from gateway.verify.results import EXIT_CODES, EventVerdict, Verdict, VerifyError
from gateway.verify.selection import select_history
from gateway.verify.sources import HttpSource, ProvenanceSource, Served, SourceError, SqlSource

__all__ = [
    "EXIT_CODES", "BundleError", "EventVerdict", "HttpSource", "Node", "ProvenanceSource", "Served", "SourceError",
    "SqlSource", "Verdict", "VerifyError", "build_bundle", "compare", "dumps", "load_bundle", "main",
    "rebuild", "select_history", "verify_bundle", "verify_history", "write_bundle",
]
