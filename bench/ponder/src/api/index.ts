import { db } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import { graphql } from "ponder";

const app = new Hono();
app.use("/graphql", graphql({ db, schema }));

// the benchmark compares these two tables with dataledger's (bigints as decimal strings)
const json = (rows: unknown) =>
  new Response(JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? v.toString() : v)), {
    headers: { "content-type": "application/json" },
  });
app.get("/bench/vouchers", async () => json(await db.select().from(schema.voucher)));
app.get("/bench/transfers", async () => json(await db.select().from(schema.voucherTransfer)));

export default app;
