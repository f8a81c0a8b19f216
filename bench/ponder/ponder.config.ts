// Ponder app of the indexer benchmark (bench/bench_indexer.py): the same chain and the same
// DataVoucher events as dataledger's vouchers / voucher_transfers projections.
// Set by the benchmark: PONDER_RPC_URL, PONDER_CHAIN_ID, VOUCHER_ADDRESS, VOUCHER_START_BLOCK,
// VOUCHER_ABI (path of DataVoucher's ABI JSON), and DATABASE_URL (PostgreSQL) or PGLITE_DIR.
import { readFileSync } from "node:fs";
import { createConfig } from "ponder";

const abi = JSON.parse(readFileSync(process.env.VOUCHER_ABI!, "utf8"));

export default createConfig({
  database: process.env.DATABASE_URL
    ? { kind: "postgres", connectionString: process.env.DATABASE_URL }
    : { kind: "pglite", directory: process.env.PGLITE_DIR },
  chains: {
    anvil: {
      id: Number(process.env.PONDER_CHAIN_ID),
      rpc: process.env.PONDER_RPC_URL!,
      disableCache: true,
    },
  },
  contracts: {
    DataVoucher: {
      chain: "anvil",
      abi,
      address: process.env.VOUCHER_ADDRESS as `0x${string}`,
      startBlock: Number(process.env.VOUCHER_START_BLOCK),
    },
  },
});
