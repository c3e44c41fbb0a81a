import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { validationProblem } from "./errors.ts";

/**
 * Validates one part of the request with a zod schema; failures become a 400 validation problem.
 * For routes that also belong in the OpenAPI document, use `app.openapi(createRoute(...))` instead.
 * @example app.post("/items", validate("json", Item), (c) => c.json(c.req.valid("json"), 201));
 */
export const validate = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) throw validationProblem(result.error, result.target);
  });
