"""The development stack: a local anvil node (:mod:`.anvil`), a throw-away PostgreSQL cluster
(:mod:`.postgres`), the demo market (:mod:`.demo`) and ``make up`` (:mod:`.stack`).

Nothing in production imports it: it uses anvil's public mnemonic."""
