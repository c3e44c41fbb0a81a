import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vectorDb } from "@foundation/vectors";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const base = "http://gw.test/api/foundation/collections";
const unique = () => `test.${crypto.randomUUID().slice(0, 8)}`;

async function call(method: string, path: string, body?: unknown, scope = "admin"): Promise<Response> {
  return SELF.fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${await token(scope)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
const ok = async <T>(res: Response, status = 200): Promise<T> => {
  expect(res.status, await res.clone().text()).toBe(status);
  return res.json<T>();
};
type Matches = { matches: { id: string; distance: number; document: string | null; metadata: Record<string, unknown> }[] };

/** Twelve points on a line in 3-d space with known metadata: the nearest neighbours of any point are obvious. */
const points = Array.from({ length: 12 }, (_, i) => ({
  id: `p${i}`,
  embedding: [i, 0, 1],
  document: `point ${i}`,
  metadata: { i, even: i % 2 === 0, lang: ["en", "de", "fr"][i % 3]!, ...(i < 6 ? { low: true } : {}) },
}));

async function collection(metric = "l2", dimension = 3): Promise<string> {
  const name = unique();
  await ok(await call("POST", "", { name, dimension, metric }), 201);
  await ok(await call("POST", `/${name}/records`, { records: points }, "publish"));
  return name;
}
const ids = async (name: string, body: Record<string, unknown>) =>
  (await ok<Matches>(await call("POST", `/${name}/query`, body, "read"))).matches.map((m) => m.id);

describe("vector collections on pgvector", () => {
  it("answers the true nearest neighbours in order, by the index and by exact search, with distances, documents and metadata", async () => {
    const name = await collection();
    const res = await ok<Matches>(await call("POST", `/${name}/query`, { embedding: [4.2, 0, 1], k: 3 }, "read"));
    expect(res.matches.map((m) => m.id)).toEqual(["p4", "p5", "p3"]);
    expect(res.matches[0]!.distance).toBeCloseTo(0.2, 5);
    expect(res.matches[0]).toMatchObject({ document: "point 4", metadata: { i: 4, even: true, lang: "de", low: true } });
    expect(await ids(name, { embedding: [4.2, 0, 1], k: 3, exact: true })).toEqual(["p4", "p5", "p3"]);
    expect(await ids(name, { embedding: [11, 0, 1], k: 2, efSearch: 100 })).toEqual(["p11", "p10"]);
    const got = await ok<Record<string, unknown>>(await call("GET", `/${name}`, undefined, "read"));
    expect(got).toMatchObject({ name, dimension: 3, metric: "l2", hnsw: { m: 16, efConstruction: 64 }, count: 12 });
    const plan = await vectorDb(env).execute(
      sql.raw(
        `select indexdef from pg_indexes where tablename = 'vector_records' and indexdef like '%hnsw%' and indexdef like '%vector(3)%'`,
      ),
    );
    expect(plan.rows.length).toBeGreaterThan(0);
  });

  it("ranks by cosine distance and by inner product as the metric says", async () => {
    const cos = unique();
    await ok(await call("POST", "", { name: cos, dimension: 2, metric: "cosine" }), 201);
    const ip = unique();
    await ok(await call("POST", "", { name: ip, dimension: 2, metric: "ip" }), 201);
    const records = [
      { id: "small-same-direction", embedding: [1, 1] },
      { id: "large-other-direction", embedding: [10, 0] },
    ];
    for (const n of [cos, ip]) await ok(await call("POST", `/${n}/records`, { records }, "publish"));
    expect(await ids(cos, { embedding: [1, 1], k: 2 })).toEqual(["small-same-direction", "large-other-direction"]);
    expect(await ids(ip, { embedding: [1, 1], k: 2 })).toEqual(["large-other-direction", "small-same-direction"]);
  });

  it("filters with each operator, $and and $or, before taking the k nearest", async () => {
    const name = await collection();
    const q = (where: Record<string, unknown>) => ids(name, { embedding: [0, 0, 1], k: 12, where });
    expect(await q({ lang: "de" })).toEqual(["p1", "p4", "p7", "p10"]);
    expect(await q({ lang: { $eq: "fr" } })).toEqual(["p2", "p5", "p8", "p11"]);
    expect(await q({ lang: { $ne: "en" }, i: { $lt: 5 } })).toEqual(["p1", "p2", "p4"]);
    expect(await q({ low: { $ne: true } })).toEqual(["p6", "p7", "p8", "p9", "p10", "p11"]);
    expect(await q({ lang: { $in: ["en", "fr"] }, i: { $gte: 8 } })).toEqual(["p8", "p9", "p11"]);
    expect(await q({ lang: { $nin: ["en", "fr"] } })).toEqual(["p1", "p4", "p7", "p10"]);
    expect(await q({ i: { $gt: 9 } })).toEqual(["p10", "p11"]);
    expect(await q({ i: { $gt: 2, $lte: 4 } })).toEqual(["p3", "p4"]);
    expect(await q({ $or: [{ i: { $lt: 1 } }, { $and: [{ even: false }, { i: { $gt: 8 } }] }] })).toEqual(["p0", "p9", "p11"]);
    expect(await q({ lang: { $gt: 1 } })).toEqual([]);
    expect(await ids(name, { embedding: [0, 0, 1], k: 2, where: { even: true }, exact: true })).toEqual(["p0", "p2"]);
    const counted = await ok<{ count: number }>(await call("POST", `/${name}/count`, { where: { even: true } }, "read"));
    expect(counted.count).toBe(6);
  });

  it("replaces a record upserted again under its id, fetches by id, and deletes by id and by filter", async () => {
    const name = await collection();
    await ok(await call("POST", `/${name}/records`, { records: [{ id: "p3", embedding: [100, 0, 1], document: "moved" }] }, "publish"));
    expect(await ids(name, { embedding: [100, 0, 1], k: 1 })).toEqual(["p3"]);
    const one = await ok<Record<string, unknown>>(await call("GET", `/${name}/records/p3`, undefined, "read"));
    expect(one).toEqual({ id: "p3", embedding: [100, 0, 1], document: "moved", metadata: {} });
    const many = await ok<{ records: { id: string }[] }>(await call("POST", `/${name}/records/get`, { ids: ["p5", "nope", "p1"] }, "read"));
    expect(many.records.map((r) => r.id)).toEqual(["p5", "p1"]);
    expect((await call("GET", `/${name}/records/nope`, undefined, "read")).status).toBe(404);
    expect(await ok(await call("POST", `/${name}/records/delete`, { ids: ["p0", "p1", "nope"] }, "publish"))).toEqual({ deleted: 2 });
    expect(await ok(await call("POST", `/${name}/records/delete`, { where: { lang: "fr" } }, "publish"))).toEqual({ deleted: 4 });
    expect(await ok(await call("POST", `/${name}/count`, {}, "read"))).toEqual({ count: 6 });
  });

  it("refuses a dimension mismatch, an unknown collection and a malformed filter with problem+json, writing nothing", async () => {
    const name = await collection();
    const mismatch = await call(
      "POST",
      `/${name}/records`,
      {
        records: [
          { id: "new", embedding: [1, 2, 3] },
          { id: "bad", embedding: [1, 2] },
        ],
      },
      "publish",
    );
    expect(mismatch.status).toBe(400);
    expect(mismatch.headers.get("content-type")).toContain("application/problem+json");
    expect(await mismatch.json()).toMatchObject({
      type: "/problems/dimension-mismatch",
      errors: [{ pointer: "/body/records/1/embedding" }],
    });
    expect((await call("GET", `/${name}/records/new`, undefined, "read")).status).toBe(404);
    expect((await call("POST", `/${name}/query`, { embedding: [1, 2], k: 1 }, "read")).status).toBe(400);

    const missing = await call("POST", `/test.missing-${crypto.randomUUID().slice(0, 6)}/records`, { records: points }, "publish");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: "/problems/unknown-collection" });

    const filter = await call("POST", `/${name}/records/delete`, { where: { i: { $regex: "1" } } }, "publish");
    expect(filter.status).toBe(400);
    expect(await filter.json()).toMatchObject({ type: "/problems/malformed-filter", errors: [{ pointer: "/body/where/i/$regex" }] });
    expect(await ok(await call("POST", `/${name}/count`, {}, "read"))).toEqual({ count: 12 });
    expect((await call("POST", "", { name, dimension: 3, metric: "l2" })).status).toBe(409);
    expect((await call("POST", "", { name: "Bad Name", dimension: 3 })).status).toBe(400);
    expect((await call("POST", "", { name: unique(), dimension: 5000 })).status).toBe(400);
  });

  it("needs admin to create and delete, publish to write, a token to read; a text query is 501 without Workers AI", async () => {
    const name = await collection();
    expect((await call("POST", "", { name: unique(), dimension: 3 }, "publish")).status).toBe(403);
    expect((await call("POST", `/${name}/records`, { records: points }, "read")).status).toBe(403);
    expect((await SELF.fetch(`${base}/${name}`)).status).toBe(401);
    const text = await call("POST", `/${name}/query`, { text: "hello", k: 1 }, "read");
    expect(text.status).toBe(501);
    expect(await text.json()).toMatchObject({ type: "/problems/embedding-unavailable" });
    const listed = await ok<{ collections: { name: string }[] }>(await call("GET", "", undefined, "read"));
    expect(listed.collections.map((c) => c.name)).toContain(name);
    expect((await call("DELETE", `/${name}`)).status).toBe(204);
    expect((await call("GET", `/${name}`, undefined, "read")).status).toBe(404);
  });
});
