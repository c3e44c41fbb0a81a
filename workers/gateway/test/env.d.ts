// Bindings that only the test project adds (vitest.config.ts): how tests reach the local stack's controls.
declare namespace Cloudflare {
  interface Env {
    /** Control endpoint of the local stack: stop/start redis-server and PostgreSQL for failure tests. */
    STACK_CONTROL_URL: string;
    STACK_CONTROL_TOKEN: string;
    /** An R2 bucket for the service kit's BlobStore tests. */
    TEST_BLOBS: R2Bucket;
  }
}
