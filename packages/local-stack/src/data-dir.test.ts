import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireOwnership } from "./data-dir.ts";

const quiet = () => {};
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "local-stack-owner-"));
  mkdirSync(join(root, ".local"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A pid that is alive and not ours: the process that started this test worker plays a stack already running. */
const otherLivePid = process.ppid;

describe("data folder ownership", () => {
  it("takes over a lock whose owner is dead, holds it with its own pid, and removes it on release", () => {
    const lock = join(root, ".local", "test.pid");
    writeFileSync(lock, "999999999\n");
    const owner = acquireOwnership(root, "test", quiet);
    expect(owner.dir).toBe(join(root, ".local", "test"));
    expect(owner.ephemeral).toBe(false);
    expect(readFileSync(lock, "utf8")).toBe(`${process.pid}\n`);
    expect(readdirSync(join(root, ".local")), "no temporary lock files left").toEqual(["test.pid"]);
    owner.release();
    expect(existsSync(lock)).toBe(false);
  });

  it("gives a test stack a folder of its own while a live process holds the shared one, and deletes it on release", () => {
    writeFileSync(join(root, ".local", "test.pid"), `${otherLivePid}\n`);
    const lines: string[] = [];
    const owner = acquireOwnership(root, "test", (l) => lines.push(l));
    expect(owner.dir).toBe(join(root, ".local", `test-${process.pid}`));
    expect(owner.ephemeral).toBe(true);
    expect(lines.join("\n")).toMatch(/is in use/);
    mkdirSync(owner.dir);
    owner.release();
    expect(existsSync(owner.dir)).toBe(false);
    expect(readFileSync(join(root, ".local", "test.pid"), "utf8"), "the other process keeps its lock").toBe(`${otherLivePid}\n`);
  });

  it("refuses a dev stack while a live process holds the dev folder, and a second stack for one folder in this process", () => {
    writeFileSync(join(root, ".local", "dev.pid"), `${otherLivePid}\n`);
    expect(() => acquireOwnership(root, "dev", quiet)).toThrow(/another local stack .* is using/);
    const owner = acquireOwnership(root, "test", quiet);
    try {
      expect(() => acquireOwnership(root, "test", quiet)).toThrow(/already running in this process/);
    } finally {
      owner.release();
    }
  });
});
