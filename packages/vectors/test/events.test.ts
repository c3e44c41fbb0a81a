import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { countRecords, createCollection, getRecords, indexEvents, queryCollection } from "../src/index.ts";

interface Raw {
  text: string;
  vector: number[];
}
const event = (id: string, text: string, vector: number[]) => ({ id, type: "ai.response", data: { text, vector } satisfies Raw });

describe("indexing events into a collection", () => {
  it("keys records by event id, so a redelivered event replaces its record, and skips what toRecord declines", async () => {
    const name = `test.events.${crypto.randomUUID().slice(0, 8)}`;
    await createCollection(env, { name, dimension: 2, metric: "cosine" });
    const toRecord = (e: ReturnType<typeof event>) =>
      e.data.text === "" ? null : { embedding: e.data.vector, document: e.data.text, metadata: { type: e.type } };
    const first = [event("e1", "acme is great", [1, 0]), event("e2", "", [0, 1]), event("e3", "globex", [0, 1])];
    expect(await indexEvents(env, name, first, toRecord)).toEqual({ indexed: 2, skipped: 1 });
    // At-least-once delivery: the same events again, one of them changed.
    expect(await indexEvents(env, name, [event("e1", "acme is great", [1, 0.1]), first[2]!], toRecord)).toEqual({ indexed: 2, skipped: 0 });
    expect(await countRecords(env, name)).toBe(2);
    expect((await getRecords(env, name, ["e1"]))[0]).toMatchObject({
      embedding: [1, 0.1],
      document: "acme is great",
      metadata: { type: "ai.response" },
    });
    const [nearest] = await queryCollection(env, name, { embedding: [0, 1], k: 1 });
    expect(nearest).toMatchObject({ id: "e3", document: "globex" });
  });
});
