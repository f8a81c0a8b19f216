import { ponder } from "ponder:registry";
import { voucher, voucherTransfer } from "ponder:schema";

ponder.on("DataVoucher:VoucherIssued", async ({ event, context }) => {
  const a = event.args as any;
  await context.db
    .insert(voucher)
    .values({
      tokenId: a.tokenId,
      assetId: a.assetId,
      issuer: a.issuer,
      owner: a.holder,
      maxUses: BigInt(a.maxUses),
      transferable: a.transferable,
      issuedBlock: event.block.number,
    })
    // the mint's Transfer follows VoucherIssued; keep its owner if it came first
    .onConflictDoUpdate((row) => ({
      assetId: a.assetId,
      issuer: a.issuer,
      maxUses: BigInt(a.maxUses),
      transferable: a.transferable,
      issuedBlock: event.block.number,
      owner: row.owner,
    }));
});

ponder.on("DataVoucher:Transfer", async ({ event, context }) => {
  const a = event.args as any;
  await context.db.insert(voucherTransfer).values({
    id: event.id,
    blockNumber: event.block.number,
    logIndex: event.log.logIndex,
    tokenId: a.tokenId,
    from: a.from,
    to: a.to,
  });
  const existing = await context.db.find(voucher, { tokenId: a.tokenId });
  if (existing) {
    await context.db.update(voucher, { tokenId: a.tokenId }).set({ owner: a.to });
  }
});
