/**
 * vitest 4 globalSetup: starts the local stack (profile "test", root = the repository root) once per
 * vitest process, provides its endpoints to the tests as `inject("stack")`, and stops it afterwards.
 *
 *   // vitest.config.ts
 *   test: { globalSetup: ["../../packages/local-stack/src/vitest-setup.ts"] }
 *   // in a test (also inside workerd): const stack = inject("stack");
 *
 * Several projects listing this setup share one stack (reference-counted per process).
 * LOCAL_STACK_QUIET=1 silences the progress lines.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { startLocalStack, stackInfo, type LocalStack, type StackInfo } from "./index.ts";

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

/** Repository root: packages/local-stack/src → ../../.. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

interface Shared {
  promise: Promise<LocalStack>;
  refs: number;
}
const SHARED = Symbol.for("@foundation/local-stack/vitest-shared");
const registry = globalThis as unknown as Record<symbol, Shared | undefined>;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = registry[SHARED];
  if (!shared) {
    const quiet = process.env.LOCAL_STACK_QUIET === "1";
    const created: Shared = {
      refs: 0,
      promise: startLocalStack({
        root: repoRoot,
        profile: "test",
        log: quiet ? () => {} : (line) => console.log(`[local-stack] ${line}`),
      }),
    };
    created.promise.catch(() => {
      if (registry[SHARED] === created) registry[SHARED] = undefined;
    });
    registry[SHARED] = shared = created;
  }
  shared.refs++;
  const stack = await shared.promise;
  project.provide("stack", stackInfo(stack));
  const mine = shared;
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    if (--mine.refs > 0) return;
    if (registry[SHARED] === mine) registry[SHARED] = undefined;
    await stack.stop();
  };
}
