"""dataledger, the application: the ``dataledger`` command line (:mod:`dataledger.cli`) and the
development stack (:mod:`dataledger.dev`: anvil, a PostgreSQL harness, demo seeding, ``make up``).

The SDK is the :mod:`ledger` library, which imports nothing from here."""
