import { SERVICE_NAME } from "@foundation/core";
import { z } from "zod";

/** The name of the one `ServiceDirectory` object. */
export const DIRECTORY_NAME = "directory";

/** Default TTL of an instance that names none: heartbeats every 10 s keep it passing. */
export const DEFAULT_TTL_SECONDS = 30;
/** Bounds of an instance's TTL: 1 s to 1 h. */
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 3600;
/** Bounds of the deregister delay (counted from when the instance turned critical): 1 min to 7 days. */
export const MIN_DEREGISTER_AFTER_SECONDS = 60;
export const MAX_DEREGISTER_AFTER_SECONDS = 7 * 24 * 3600;
/** Longest check output kept with an instance. */
export const MAX_OUTPUT_LENGTH = 4096;

/** A service name, `[a-z0-9-]{1,64}`. */
export const ServiceName = z.string().regex(SERVICE_NAME, "service names are 1 to 64 characters of a-z, 0-9 and -");

/** An instance ID, as the registry assigns them (a UUID). */
export const InstanceId = z.uuid({ message: "instance IDs are UUIDs" });

/** Health of an instance: `passing` and `warning` take traffic, `critical` takes none. */
export const HealthStatus = z.enum(["passing", "warning", "critical"]);
/** Health of an instance. */
export type HealthStatus = z.infer<typeof HealthStatus>;

/** The gateway binding that reaches an instance, in wrangler's upper snake case (`BILLING`). */
export const BindingName = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "bindings are upper snake case, up to 64 characters");

/** Free-form string labels of an instance (region, zone, weight…): up to 32 entries. */
export const Metadata = z
  .record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, "metadata keys start with a letter and have up to 64 characters"),
    z.string().max(512),
  )
  .refine((m) => Object.keys(m).length <= 32, "at most 32 metadata entries");

/** Body of `POST /api/foundation/services`: exactly one of `url` and `binding` says where the instance is reached. */
export const RegistrationRequest = z
  .object({
    name: ServiceName,
    url: z.string().min(1).max(2048).optional(),
    binding: BindingName.optional(),
    version: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, "versions are up to 64 characters of 0-9, A-Z, a-z, . + _ -"),
    metadata: Metadata.optional(),
    ttlSeconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).optional(),
    deregisterAfterSeconds: z.number().int().min(MIN_DEREGISTER_AFTER_SECONDS).max(MAX_DEREGISTER_AFTER_SECONDS).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.url === undefined) === (r.binding === undefined)) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "give exactly one of url and binding" });
    }
    const ttl = r.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (r.deregisterAfterSeconds !== undefined && r.deregisterAfterSeconds < ttl) {
      ctx.addIssue({ code: "custom", path: ["deregisterAfterSeconds"], message: "the deregister delay must not be shorter than the TTL" });
    }
  });
/** A registration as the caller sends it. */
export type RegistrationRequest = z.infer<typeof RegistrationRequest>;

/** Body of `PUT /api/foundation/services/:name/instances/:id/heartbeat`; an empty body means `passing`. */
export const HeartbeatRequest = z
  .object({
    status: HealthStatus.optional(),
    output: z.string().max(MAX_OUTPUT_LENGTH).optional(),
  })
  .strict();
/** A heartbeat as the caller sends it. */
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;
