import { describe, expect, it } from "vitest";
import { createService, HOP_HEADER, isJsonMediaType } from "./create-service.ts";

describe("isJsonMediaType", () => {
  it("accepts application/json and +json types with parameters, and nothing else", () => {
    for (const type of ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/cloudevents+json"]) {
      expect(isJsonMediaType(type), type).toBe(true);
    }
    for (const type of [undefined, "", "text/plain", "text/json", "application/jsonp", "multipart/form-data; boundary=x"]) {
      expect(isJsonMediaType(type), String(type)).toBe(false);
    }
  });
});

describe("createService's scheduling of a request", () => {
  it("runs the route one turn of the event loop after the request arrives: after a timer set before it", async () => {
    const app = createService({ name: "turns", version: "0.0.0", registry: false, metricsFlush: false, logSink: () => undefined });
    const order: string[] = [];
    app.get("/x", (c) => {
      order.push("route");
      return c.text("ok");
    });
    setTimeout(() => order.push("timer"), 0);
    const res = await app.request("/x", {}, {});
    expect(res.status).toBe(200);
    expect(order).toEqual(["timer", "route"]);
  });

  it("runs a request the gateway forwarded over a binding in the gateway's turn: before that timer", async () => {
    const app = createService({ name: "turns", version: "0.0.0", registry: false, metricsFlush: false, logSink: () => undefined });
    const order: string[] = [];
    app.get("/x", (c) => {
      order.push(c.get("turnTaken") ? "route" : "route without turnTaken");
      return c.text("ok");
    });
    setTimeout(() => order.push("timer"), 0);
    const forwarded = await app.request("/x", { headers: { [HOP_HEADER]: "binding" } }, {});
    expect(forwarded.status).toBe(200);
    expect(order).toEqual(["route"]);
    await new Promise((done) => setTimeout(done, 0));
    expect(order).toEqual(["route", "timer"]);
    // Any other value is not the gateway's hint: the request takes its turn.
    order.length = 0;
    setTimeout(() => order.push("timer"), 0);
    expect((await app.request("/x", { headers: { [HOP_HEADER]: "url" } }, {})).status).toBe(200);
    expect(order).toEqual(["timer", "route"]);
  });
});
