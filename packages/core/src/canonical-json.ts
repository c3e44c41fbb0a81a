/**
 * JSON with object keys sorted at every level, so two values that are equal as JSON have one text: what a
 * request's hash is computed over (`{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request). Values JSON cannot
 * hold are dropped as `JSON.stringify` drops them.
 * @example canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }) // '{"a":[{"c":3,"d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}
