/**
 * Checks of the built gateway that need Node rather than workerd (the validator compiles JSON Schemas
 * with `new Function`, which workerd forbids): the OpenAPI document validates as OpenAPI 3.1, and the
 * /docs UI and its assets are served by the worker itself. Runs on `dist/gateway` (npm run build).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolve } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const ROOT = resolve(import.meta.dirname, "../../..");
let mf: Miniflare;

void describe("gateway documentation", () => {
  before(() => {
    const gateway = unstable_getMiniflareWorkerOptions(resolve(ROOT, "wrangler.toml"));
    const example = unstable_getMiniflareWorkerOptions(resolve(ROOT, "workers/example/wrangler.toml"));
    mf = new Miniflare({
      workers: [
        { ...gateway.workerOptions, name: "foundation-gateway", modules: true, scriptPath: resolve(ROOT, "dist/gateway/index.js") },
        { ...example.workerOptions, name: "foundation-example", modules: true, scriptPath: resolve(ROOT, "dist/example/index.js") },
      ],
    });
  });
  after(() => mf.dispose());

  void it("serves /openapi.json that validates as OpenAPI 3.1", async () => {
    const res = await mf.dispatchFetch("http://gw.test/openapi.json");
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string };
    assert.equal(doc.openapi, "3.1.0");
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    const broken = await new Validator().validate({ ...doc, paths: { "/x": { get: { responses: "none" } } } });
    assert.equal(broken.valid, false, "the validator refuses a malformed document");
  });

  void it("serves the Swagger UI at /docs with its assets and a strict CSP, no network needed", async () => {
    const page = await mf.dispatchFetch("http://gw.test/docs");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1] ?? "");
    assert.deepEqual(assets.sort(), ["/docs.js", "/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"]);
    for (const path of assets) {
      const res = await mf.dispatchFetch(`http://gw.test${path}`);
      assert.equal(res.status, 200, path);
      assert.ok((await res.arrayBuffer()).byteLength > 100, `${path} has content`);
    }
  });
});
