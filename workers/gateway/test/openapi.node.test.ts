/**
 * Checks of the built gateway that need Node rather than workerd (the validator compiles JSON Schemas
 * with `new Function`, which workerd forbids): the OpenAPI document validates as OpenAPI 3.1, and the
 * /docs UI and its assets are served by the worker itself. Runs on `dist/gateway` (npm run build).
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, it } from "vitest";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { Miniflare } from "miniflare";
import { builtWorkers, openApiDocument } from "../../../scripts/gateway-miniflare.ts";

let mf: Miniflare;

describe("gateway documentation", () => {
  beforeAll(() => {
    mf = builtWorkers();
  });
  afterAll(() => mf.dispose());

  it("serves /openapi.json that validates as OpenAPI 3.1", async () => {
    const doc = await openApiDocument(mf);
    assert.equal(doc.openapi, "3.1.0");
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    const broken = await new Validator().validate({ ...doc, paths: { "/x": { get: { responses: "none" } } } });
    assert.equal(broken.valid, false, "the validator refuses a malformed document");
  });

  it("serves the Swagger UI at /docs with its assets and a strict CSP, no network needed", async () => {
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
