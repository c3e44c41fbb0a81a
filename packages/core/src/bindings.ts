/** Service names: what `/api/:service/*`, the registry and subscription targets key on. */
export const SERVICE_NAME = /^[a-z0-9-]{1,64}$/;

/** What a service binding offers the code here: `fetch` (a worker's `Fetcher`, typed without the Workers types). */
export interface ServiceBinding {
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
}

/**
 * The env binding that serves a service, in wrangler's upper snake case.
 * @example bindingName("ai-monitor") // "AI_MONITOR"
 */
export function bindingName(service: string): string {
  return service.toUpperCase().replace(/-/g, "_");
}

/**
 * The service binding called `name` (`EXAMPLE`), or undefined when `env` has no service binding of that name.
 * Bindings are RPC stubs that answer to any property name, so the runtime's own tag is what identifies a
 * service binding (`[object Fetcher]`) as opposed to a Durable Object namespace, a KV namespace or a var.
 * @example bindingNamed(env, "EXAMPLE")?.fetch("https://example.internal/health")
 */
export function bindingNamed(env: object, name: string): ServiceBinding | undefined {
  const binding = (env as Record<string, unknown>)[name];
  return Object.prototype.toString.call(binding) === "[object Fetcher]" ? (binding as ServiceBinding) : undefined;
}

/**
 * The service binding that serves `service`, or undefined when the name is not a service name or nothing
 * of that name is bound.
 * @example serviceBinding(env, "example") // env.EXAMPLE
 */
export function serviceBinding(env: object, service: string): ServiceBinding | undefined {
  return SERVICE_NAME.test(service) ? bindingNamed(env, bindingName(service)) : undefined;
}
