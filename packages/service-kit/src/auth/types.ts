import type { JWTPayload } from "jose";

/** Who is calling, as proven by a verified token or API key. */
export interface AuthContext {
  subject: string;
  scopes: ReadonlySet<string>;
  claims: JWTPayload;
  /** The services the token is restricted to (an `aud` of `<audience>:<service>`); absent when it is for every service. */
  services?: ReadonlySet<string>;
}
