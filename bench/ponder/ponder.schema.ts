import { onchainTable } from "ponder";

export const voucher = onchainTable("voucher", (t) => ({
  voucherId: t.bigint().primaryKey(),
  assetId: t.bigint().notNull(),
  issuer: t.hex().notNull(),
  holder: t.hex().notNull(),
  maxUses: t.bigint().notNull(),
  transferable: t.boolean().notNull(),
  issuedBlock: t.bigint().notNull(),
}));

export const voucherTransfer = onchainTable("voucher_transfer", (t) => ({
  id: t.text().primaryKey(),
  blockNumber: t.bigint().notNull(),
  logIndex: t.integer().notNull(),
  voucherId: t.bigint().notNull(),
  from: t.hex().notNull(),
  to: t.hex().notNull(),
}));
