import { app, type ExampleEnv } from "./app.ts";

export default app satisfies ExportedHandler<ExampleEnv>;
