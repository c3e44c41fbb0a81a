import { createLogger, errorFields } from "@foundation/core";
import { createDb, jobQueues } from "@foundation/db";
import { queueStub } from "@foundation/jobs";
import { boardJob, publicQueue, unreadQueue, type DashboardJobs, type DashboardQueue, type DashboardQueueJobs } from "./board.ts";

/** Queues the board shows, at most, by name. */
const MAX_QUEUES = 50;

/** Failed jobs, and unfinished jobs, the board lists per queue. */
export const BOARD_JOBS = 10;

const log = createLogger({ service: "gateway", component: "dashboard" });

async function queueNames(env: Env): Promise<string[]> {
  const rows = await createDb(env).select({ name: jobQueues.name }).from(jobQueues).orderBy(jobQueues.name).limit(MAX_QUEUES);
  return rows.map((r) => r.name);
}

/** The public board: each queue's pause state, job counts and last minute; null without a database to list them. */
export async function queuesSection(env: Env): Promise<DashboardQueue[] | null> {
  if (!env.DATABASE_URL) return null;
  const queues = await Promise.all(
    (await queueNames(env)).map(async (name) => {
      try {
        const summary = await queueStub(env, name).summary();
        return summary && publicQueue(summary);
      } catch (err) {
        log.warn("dashboard queue summary not read", { queue: name, ...errorFields(err) });
        return unreadQueue(name);
      }
    }),
  );
  return queues.filter((q): q is DashboardQueue => q !== null);
}

/** The admin side of the board: each queue's last failed and next unfinished jobs, without data or result. */
export async function dashboardJobs(env: Env, now: number = Date.now()): Promise<DashboardJobs> {
  let names: string[] | null = null;
  if (env.DATABASE_URL) {
    try {
      names = await queueNames(env);
    } catch (err) {
      log.warn("dashboard queues not listed", errorFields(err));
    }
  }
  const queues =
    names &&
    (await Promise.all(
      names.map(async (name): Promise<DashboardQueueJobs> => {
        try {
          const { failed, unfinished } = await queueStub(env, name).latestJobs(BOARD_JOBS);
          return { name, failed: failed.map(boardJob), unfinished: unfinished.map(boardJob) };
        } catch (err) {
          log.warn("dashboard queue jobs not read", { queue: name, ...errorFields(err) });
          return { name, failed: null, unfinished: null };
        }
      }),
    ));
  return { generatedAt: now, queues };
}
