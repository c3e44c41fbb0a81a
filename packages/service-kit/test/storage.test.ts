import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HttpProblem } from "@foundation/core";
import { assertKey, BlobStore, contentTypeAllowed } from "../src/storage.ts";

const store = (options: ConstructorParameters<typeof BlobStore>[1] = {}) =>
  new BlobStore(env.TEST_BLOBS, { prefix: `t-${crypto.randomUUID().slice(0, 8)}/`, ...options });

async function status(promise: Promise<unknown>): Promise<number> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof HttpProblem ? err.status : 0;
}

describe("BlobStore on R2", () => {
  it("puts, heads, gets, lists and deletes with content type, size and metadata", async () => {
    const blobs = store();
    const put = await blobs.put("brand/acme/1.json", JSON.stringify({ answer: 42 }), {
      contentType: "application/json",
      metadata: { model: "gpt" },
    });
    expect(put).toMatchObject({ key: "brand/acme/1.json", size: 13, contentType: "application/json", metadata: { model: "gpt" } });
    await blobs.put("brand/acme/2.txt", new TextEncoder().encode("hello"), { contentType: "text/plain" });
    const stream = new Blob(["streamed"]).stream();
    await blobs.put("brand/other/3.txt", { stream, length: 8 }, { contentType: "text/plain" });

    expect(await (await blobs.get("brand/acme/1.json"))?.json()).toEqual({ answer: 42 });
    expect(await (await blobs.get("brand/other/3.txt"))?.text()).toBe("streamed");
    expect((await blobs.head("brand/acme/2.txt"))?.size).toBe(5);
    expect(await blobs.get("missing.json")).toBeNull();

    const acme = await blobs.list({ prefix: "brand/acme/" });
    expect(acme.objects.map((o) => [o.key, o.contentType])).toEqual([
      ["brand/acme/1.json", "application/json"],
      ["brand/acme/2.txt", "text/plain"],
    ]);
    const first = await blobs.list({ limit: 2 });
    expect(first.objects).toHaveLength(2);
    const rest = await blobs.list({ limit: 2, ...(first.cursor ? { cursor: first.cursor } : {}) });
    expect(rest.objects.map((o) => o.key)).toEqual(["brand/other/3.txt"]);

    await blobs.delete("brand/acme/1.json", "brand/acme/2.txt", "never-there");
    expect((await blobs.list()).objects.map((o) => o.key)).toEqual(["brand/other/3.txt"]);
  });

  it("keeps stores with different prefixes apart in one bucket", async () => {
    const a = store();
    const b = store();
    await a.put("same.txt", "a", { contentType: "text/plain" });
    expect(await b.get("same.txt")).toBeNull();
    expect((await b.list()).objects).toEqual([]);
  });

  it("refuses oversized bodies (413) and other content types (415) and writes nothing", async () => {
    const blobs = store({ maxBytes: 4, contentTypes: ["application/json", "image/*"] });
    expect(await status(blobs.put("big.json", "12345", { contentType: "application/json" }))).toBe(413);
    expect(await status(blobs.put("page.html", "<p>", { contentType: "text/html" }))).toBe(415);
    expect(await blobs.put("ok.png", "abc", { contentType: "image/png" })).toMatchObject({ size: 3 });
    expect((await blobs.list()).objects.map((o) => o.key)).toEqual(["ok.png"]);
  });

  it("refuses keys that could escape the store (400)", async () => {
    const blobs = store();
    for (const key of ["", "/abs", "a/../b", "./a", "a//b", "a\\b", "a b", "x".repeat(1100)]) {
      expect(await status(blobs.put(key, "x", { contentType: "text/plain" })), key).toBe(400);
    }
    expect(() => assertKey("ok/key-1_2.json")).not.toThrow();
  });

  it("matches content types by essence and type wildcards", () => {
    expect(contentTypeAllowed("application/json; charset=utf-8", ["application/json"])).toBe(true);
    expect(contentTypeAllowed("image/webp", ["image/*"])).toBe(true);
    expect(contentTypeAllowed("imagex/webp", ["image/*"])).toBe(false);
    expect(contentTypeAllowed("text/html", undefined)).toBe(true);
  });
});
