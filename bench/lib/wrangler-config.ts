/** Pure reading of the few top-level wrangler.toml keys a benchmark needs to serve a bundle like wrangler would. */

/** A worker's name and runtime version, as deployed. */
export interface WranglerBasics {
  name: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
}

/**
 * Reads `name`, `compatibility_date` and `compatibility_flags` from the top-level table of a wrangler.toml
 * (keys inside `[sections]` are ignored); throws naming `source` when one of the first two is missing.
 * @example parseWranglerBasics(readFileSync("wrangler.toml", "utf8"), "wrangler.toml").compatibilityDate
 */
export function parseWranglerBasics(toml: string, source: string): WranglerBasics {
  const top = toml.split(/^\s*\[/m)[0] ?? "";
  const str = (key: string) => new RegExp(String.raw`^\s*${key}\s*=\s*"([^"]*)"`, "m").exec(top)?.[1];
  const name = str("name");
  const compatibilityDate = str("compatibility_date");
  if (!name || !compatibilityDate) throw new Error(`${source} has no top-level ${name ? "compatibility_date" : "name"}`);
  const flags = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(top)?.[1] ?? "";
  return { name, compatibilityDate, compatibilityFlags: [...flags.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? "") };
}
