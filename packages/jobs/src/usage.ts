/**
 * What a queue object's SQLite storage costs: the statements it runs and the rows they read and write, which is what
 * SQLite-backed Durable Objects are billed by. Counted in memory since the object started.
 */

/** SQL work since the object started. */
export interface SqlUsage {
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

/**
 * Wraps `ctx.storage.sql` to count what runs through it. A cursor's row counts grow while it is read, so the latest
 * cursor is added in when the next statement runs or when the usage is read; the queue reads each cursor before it
 * runs the next statement, so nothing is missed.
 * @example const meter = new SqlMeter(ctx.storage.sql); store.migrate(meter.sql); meter.usage().statements
 */
export class SqlMeter {
  /** Use this instead of the storage's own `sql`: the same, with `exec` counted. */
  readonly sql: SqlStorage;
  private settled: SqlUsage = { statements: 0, rowsRead: 0, rowsWritten: 0 };
  private latest: { readonly rowsRead: number; readonly rowsWritten: number } | null = null;

  constructor(inner: SqlStorage) {
    this.sql = {
      exec: <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => {
        this.settle();
        this.settled.statements++;
        const cursor = inner.exec<T>(query, ...bindings);
        this.latest = cursor;
        return cursor;
      },
      get databaseSize() {
        return inner.databaseSize;
      },
      Cursor: inner.Cursor,
      Statement: inner.Statement,
    };
  }

  /** Statements run and rows read and written so far. */
  usage(): SqlUsage {
    const { statements, rowsRead, rowsWritten } = this.settled;
    return { statements, rowsRead: rowsRead + (this.latest?.rowsRead ?? 0), rowsWritten: rowsWritten + (this.latest?.rowsWritten ?? 0) };
  }

  private settle(): void {
    if (!this.latest) return;
    this.settled.rowsRead += this.latest.rowsRead;
    this.settled.rowsWritten += this.latest.rowsWritten;
    this.latest = null;
  }
}
