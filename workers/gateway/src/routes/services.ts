import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  DEFAULT_MAX_STALENESS_MS,
  HeartbeatRequest,
  InstanceId,
  RegistrationRequest,
  RegistryCache,
  RegistryClient,
  ServiceName,
  type DiscoveredService,
  type Instance,
  type RegistrationIssue,
} from "@foundation/registry";
import {
  ADMIN_SCOPE,
  bindingName,
  bindingNamed,
  HttpProblem,
  jsonBodiesOnly,
  requireAuth,
  type AuthContext,
} from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";

/** One instance as the API shows it. */
export const InstanceView = z
  .object({
    id: z.string(),
    url: z.string().optional(),
    binding: z.string().optional(),
    status: z.enum(["passing", "warning", "critical"]),
    output: z.string().nullable(),
    version: z.string(),
    metadata: z.record(z.string(), z.string()),
    lastHeartbeatAt: z.string(),
    registeredAt: z.string(),
    ttlSeconds: z.number(),
  })
  .openapi("ServiceInstance");

/** A service and its instances. */
export const ServiceView = z.object({ name: z.string(), instances: z.array(InstanceView) }).openapi("Service");

const RegisterResponse = z
  .object({ instanceId: z.string(), heartbeatIntervalSeconds: z.number(), created: z.boolean() })
  .openapi("ServiceRegistration");

const NameParams = z.object({ name: ServiceName.openapi({ param: { name: "name", in: "path" } }) });
const InstanceParams = NameParams.extend({ id: InstanceId.openapi({ param: { name: "id", in: "path" } }) });
const LookupQuery = z.object({
  passing: z
    .enum(["true", "false"])
    .optional()
    .openapi({ param: { name: "passing", in: "query" }, description: "`true`: only `passing` instances" }),
});

const problem = (description: string) => ({ description, content: { "application/problem+json": { schema: z.object({}).passthrough() } } });
const writers = requireAuth({ anyOf: ["service"] });
const readers = requireAuth();

const registerRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Register a service instance (service token of that service, or admin)",
  description:
    "Registering the same URL or binding again refreshes that instance (same ID). The instance must heartbeat within `ttlSeconds`; " +
    "after that it is `critical` and takes no traffic, and it is deregistered once it has been critical for `deregisterAfterSeconds`.",
  security: [{ bearer: [] }],
  middleware: [writers] as const,
  request: {
    body: { content: { "application/json": { schema: RegistrationRequest.openapi("ServiceRegistrationRequest") } }, required: true },
  },
  responses: {
    201: { description: "Registered", content: { "application/json": { schema: RegisterResponse } } },
    400: problem("Invalid body, or a URL that is not a public https address"),
    403: problem("The token may not manage this service"),
    409: problem("The service has too many instances"),
  },
});

const heartbeatRoute = createRoute({
  method: "put",
  path: "/{name}/instances/{id}/heartbeat",
  summary: "Heartbeat an instance with its status (default `passing`) and check output",
  security: [{ bearer: [] }],
  middleware: [writers] as const,
  request: {
    params: InstanceParams,
    body: { content: { "application/json": { schema: HeartbeatRequest.openapi("HeartbeatRequest") } }, required: false },
  },
  responses: {
    200: {
      description: "The instance after the heartbeat",
      content: { "application/json": { schema: InstanceView.extend({ heartbeatIntervalSeconds: z.number() }) } },
    },
    404: problem("No such instance (deregistered): register again"),
  },
});

const deregisterRoute = createRoute({
  method: "delete",
  path: "/{name}/instances/{id}",
  summary: "Deregister an instance",
  security: [{ bearer: [] }],
  middleware: [writers] as const,
  request: { params: InstanceParams },
  responses: { 204: { description: "Deregistered" }, 404: problem("No such instance") },
});

const listRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Every service that has instances",
  security: [{ bearer: [] }],
  middleware: [readers] as const,
  request: { query: LookupQuery },
  responses: {
    200: { description: "The services", content: { "application/json": { schema: z.object({ services: z.array(ServiceView) }) } } },
  },
});

const lookupRoute = createRoute({
  method: "get",
  path: "/{name}",
  summary: "One service's instances (`?passing=true`: only passing ones)",
  security: [{ bearer: [] }],
  middleware: [readers] as const,
  request: { params: NameParams, query: LookupQuery },
  responses: {
    200: { description: "The service (no instances when it is unknown)", content: { "application/json": { schema: ServiceView } } },
  },
});

/** Discovery answers of this isolate: every other isolate's change is visible within the bound. */
const cache = new RegistryCache({ maxStalenessMs: DEFAULT_MAX_STALENESS_MS });

const iso = (ms: number) => new Date(ms).toISOString();

function instanceView(i: Instance): z.infer<typeof InstanceView> {
  return {
    id: i.id,
    ...(i.url === undefined ? { binding: i.binding } : { url: i.url }),
    status: i.status,
    output: i.output,
    version: i.version,
    metadata: i.metadata,
    lastHeartbeatAt: iso(i.lastHeartbeatAt),
    registeredAt: iso(i.registeredAt),
    ttlSeconds: i.ttlMs / 1000,
  };
}

const serviceView = (s: DiscoveredService) => ({ name: s.name, instances: s.instances.map(instanceView) });

/** A service token manages only its own service (its subject); admin tokens manage every service. */
function authorize(auth: AuthContext, service: string): void {
  if (auth.scopes.has(ADMIN_SCOPE) || auth.subject === service) return;
  throw new HttpProblem(403, {
    slug: "forbidden-service",
    detail: `This token (subject ${auth.subject}) may only manage instances of the service named like its subject.`,
  });
}

/**
 * A service token may register only the binding configured for its service (the binding named after it, as
 * wrangler.toml names them: `ai-monitor` → `AI_MONITOR`); otherwise a service could register another service's
 * worker as an instance of itself and receive its traffic's identity assertions. Admin tokens register any binding.
 */
function authorizeBinding(auth: AuthContext, service: string, binding: string | undefined): void {
  if (binding === undefined || auth.scopes.has(ADMIN_SCOPE) || binding === bindingName(service)) return;
  throw new HttpProblem(403, {
    slug: "forbidden-binding",
    detail: `The service ${service} may only register the binding ${bindingName(service)}, not ${binding}.`,
  });
}

function invalidBody(issues: RegistrationIssue[]): HttpProblem {
  return new HttpProblem(400, {
    slug: "validation-error",
    title: "Request validation failed",
    detail: "The body does not match the expected schema.",
    errors: issues.map((i) => ({ pointer: `/body/${i.path.join("/")}`, message: i.message, code: i.code })),
  });
}

const unknownInstance = (name: string, id: string) =>
  new HttpProblem(404, { slug: "unknown-instance", detail: `Service ${name} has no instance ${id}; register it again.` });

/** `/api/foundation/services`: the service registry's HTTP API. */
export const servicesRoutes = new OpenAPIHono<GatewayEnv>();
servicesRoutes.use(jsonBodiesOnly());

servicesRoutes.openapi(registerRoute, async (c) => {
  const body = c.req.valid("json");
  authorize(c.var.auth, body.name);
  // A name that is no service binding at all is the registry's to refuse (400), as any invalid address.
  if (body.binding !== undefined && bindingNamed(c.env, body.binding)) authorizeBinding(c.var.auth, body.name, body.binding);
  const result = await new RegistryClient(c.env, { cache }).register(body);
  if (result.ok) {
    const { instanceId, heartbeatIntervalSeconds: interval, created } = result;
    return c.json({ instanceId, heartbeatIntervalSeconds: interval, created }, 201);
  }
  if (result.error === "full") {
    throw new HttpProblem(409, { slug: "too-many-instances", detail: `A service may have at most ${result.limit} instances.` });
  }
  throw invalidBody(result.issues);
});

servicesRoutes.openapi(heartbeatRoute, async (c) => {
  const { name, id } = c.req.valid("param");
  authorize(c.var.auth, name);
  const result = await new RegistryClient(c.env, { cache }).heartbeat(name, id, c.req.valid("json"));
  if (result.ok) {
    return c.json({ ...instanceView(result.instance), heartbeatIntervalSeconds: result.heartbeatIntervalSeconds }, 200);
  }
  if (result.error === "invalid") throw invalidBody(result.issues);
  throw unknownInstance(name, id);
});

servicesRoutes.openapi(deregisterRoute, async (c) => {
  const { name, id } = c.req.valid("param");
  authorize(c.var.auth, name);
  const result = await new RegistryClient(c.env, { cache }).deregister(name, id);
  if (!result.ok) throw unknownInstance(name, id);
  return c.body(null, 204);
});

servicesRoutes.openapi(listRoute, async (c) => {
  const passing = c.req.valid("query").passing === "true";
  const services = await new RegistryClient(c.env, { cache }).services({ passing });
  return c.json({ services: services.map(serviceView) }, 200);
});

servicesRoutes.openapi(lookupRoute, async (c) => {
  const { name } = c.req.valid("param");
  const passing = c.req.valid("query").passing === "true";
  return c.json(serviceView(await new RegistryClient(c.env, { cache }).discover(name, { passing })), 200);
});
