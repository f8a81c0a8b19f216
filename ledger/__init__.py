"""dataledger SDK: chain connection, contract artifacts, deployment, wallets, manifests and IPFS."""

__version__ = "0.1.0"
