import { app } from "./app.ts";

export { RateLimiter } from "@foundation/rate-limiter";

export default app satisfies ExportedHandler<Env>;
