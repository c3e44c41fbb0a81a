import { createLogger, errorFields } from "@foundation/core";
import type { RegistryStorage } from "./registry-storage.ts";
import { DIRECTORY_NAME } from "./schemas.ts";
import type { ServiceDirectory } from "./service-directory.ts";

/** Wait before a failed directory report is sent again. */
const DIRECTORY_RETRY_MS = 1000;

interface DirectoryReport {
  present: boolean;
  revision: number;
}

const log = createLogger({ component: "service-registry" });

/**
 * Tells the `ServiceDirectory` when a registry's service gains its first instance or loses its last one. The
 * report waits in `meta` until the directory took it, so a failed one is sent again (after
 * {@link DIRECTORY_RETRY_MS}, from the registry's alarm) and none is lost when the object is evicted.
 */
export class DirectoryReporter {
  constructor(
    private readonly storage: RegistryStorage,
    private readonly directory: DurableObjectNamespace<ServiceDirectory>,
  ) {}

  /** Queues a report if the service's presence changed since the last one, then sends whatever report is pending. */
  async update(service: string | null, present: boolean, revision: number): Promise<void> {
    this.track(service, present, revision);
    if (this.pending()) await this.send(service);
  }

  /** Whether a report waits to be sent. */
  isPending(): boolean {
    return this.pending() !== null;
  }

  /** When the alarm should send a failed report again, or null. */
  retryAt(): number | null {
    return this.storage.metaNumber("directoryRetryAt");
  }

  private track(service: string | null, present: boolean, revision: number): void {
    if (!this.storage.hasSchema || service === null) return;
    if ((this.storage.meta("directoryPresent") === "1") === present) return;
    this.storage.setMeta("directoryPresent", present ? "1" : "0");
    this.storage.setMeta("directoryReport", JSON.stringify({ present, revision } satisfies DirectoryReport));
  }

  private pending(): DirectoryReport | null {
    const raw = this.storage.hasSchema ? this.storage.meta("directoryReport") : null;
    return raw === null ? null : (JSON.parse(raw) as DirectoryReport);
  }

  private async send(service: string | null): Promise<void> {
    const report = this.pending();
    if (!report || service === null) return;
    try {
      await this.directory.get(this.directory.idFromName(DIRECTORY_NAME)).report(service, report.present, report.revision);
      // A newer report queued while this one was on its way must still be sent.
      if (this.pending()?.revision === report.revision) this.storage.deleteMeta("directoryReport", "directoryRetryAt");
    } catch (err) {
      this.storage.setMeta("directoryRetryAt", String(Date.now() + DIRECTORY_RETRY_MS));
      log.warn("directory report failed; retrying", { registry: service, ...errorFields(err) });
    }
  }
}
