"""dataledger gateway: indexer (events -> SQL), REST API and web pages, relay of signed requests."""
