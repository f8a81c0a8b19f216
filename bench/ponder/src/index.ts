import { ponder } from "ponder:registry";
import { voucher, voucherTransfer } from "ponder:schema";

ponder.on("DataVoucher:VoucherIssued", async ({ event, context }) => {
  const a = event.args as any;
  await context.db
    .insert(voucher)
    .values({
      voucherId: a.voucherId,
      assetId: a.assetId,
      issuer: a.issuer,
      holder: a.holder,
      maxUses: BigInt(a.maxUses),
      transferable: a.transferable,
      issuedBlock: event.block.number,
    })
    // the mint's Transfer follows VoucherIssued; keep its holder if it came first
    .onConflictDoUpdate((row) => ({
      assetId: a.assetId,
      issuer: a.issuer,
      maxUses: BigInt(a.maxUses),
      transferable: a.transferable,
      issuedBlock: event.block.number,
      holder: row.holder,
    }));
});

// ERC-721's own event spells the voucher id `tokenId`
ponder.on("DataVoucher:Transfer", async ({ event, context }) => {
  const a = event.args as any;
  await context.db.insert(voucherTransfer).values({
    id: event.id,
    blockNumber: event.block.number,
    logIndex: event.log.logIndex,
    voucherId: a.tokenId,
    from: a.from,
    to: a.to,
  });
  const existing = await context.db.find(voucher, { voucherId: a.tokenId });
  if (existing) {
    await context.db.update(voucher, { voucherId: a.tokenId }).set({ holder: a.to });
  }
});
