import { HttpProblem } from "@foundation/core";

/** What a {@link BlobStore} accepts. */
export interface BlobStoreOptions {
  /** Largest object in bytes; larger puts get 413. Default 25 MiB. */
  maxBytes?: number;
  /** Content types (`type/subtype`, or `type/*`) accepted by `put`; others get 415. Default: any. */
  contentTypes?: readonly string[];
  /** Prefix under which this store keeps its keys, e.g. `ai-responses/`, so stores can share a bucket. */
  prefix?: string;
}

/** Metadata of a stored object. */
export interface BlobInfo {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  uploadedAt: Date;
  metadata: Record<string, string>;
}

/** A stored object and its body. */
export interface StoredBlob extends BlobInfo {
  body: ReadableStream;
  text(): Promise<string>;
  json<T>(): Promise<T>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A body `put` accepts: a stream must declare its length (R2 needs it up front). */
export type BlobBody = string | ArrayBuffer | ArrayBufferView | Blob | StreamBody;

/** A stream and its exact length in bytes. */
export interface StreamBody {
  stream: ReadableStream;
  length: number;
}

const DEFAULT_MAX_BYTES = 25 * 1024 * 1024;
const encoder = new TextEncoder();

/**
 * Keys are relative paths of safe characters: no leading `/`, no `.` or `..` segments, no empty segment,
 * at most 1,024 bytes with the prefix, so a key from a request can never reach another store's objects.
 */
export function assertKey(key: string): void {
  const segments = key.split("/");
  const safe = /^[A-Za-z0-9!_.*'()=@:,+-]+(\/[A-Za-z0-9!_.*'()=@:,+-]+)*$/.test(key) && segments.every((s) => s !== "." && s !== "..");
  if (!safe || encoder.encode(key).byteLength > 1024) {
    throw new HttpProblem(400, { slug: "invalid-key", detail: `"${key.slice(0, 100)}" is not a valid object key.` });
  }
}

/** Whether `contentType` (parameters ignored) is one of `allowed` (`type/*` wildcards allowed). */
export function contentTypeAllowed(contentType: string, allowed: readonly string[] | undefined): boolean {
  if (!allowed) return true;
  const essence = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  return allowed.some((a) => a === essence || (a.endsWith("/*") && essence.startsWith(a.slice(0, -1))));
}

function isStreamBody(body: BlobBody): body is StreamBody {
  return typeof body === "object" && !(body instanceof Blob) && !(body instanceof ArrayBuffer) && !ArrayBuffer.isView(body);
}

function sizeOf(body: BlobBody): number {
  if (typeof body === "string") return encoder.encode(body).byteLength;
  if (isStreamBody(body)) return body.length;
  return body instanceof Blob ? body.size : body.byteLength;
}

function infoOf(object: R2Object, prefix: string): BlobInfo {
  return {
    key: object.key.slice(prefix.length),
    size: object.size,
    etag: object.etag,
    contentType: object.httpMetadata?.contentType ?? "application/octet-stream",
    uploadedAt: object.uploaded,
    metadata: object.customMetadata ?? {},
  };
}

/**
 * Typed object storage on an R2 bucket (the seed's MinIO), with key, size and content-type checks that
 * answer as problem+json when they come from a request.
 * @example
 * const raw = new BlobStore(env.BLOBS, { prefix: "ai-responses/", contentTypes: ["application/json"], maxBytes: 1 << 20 });
 * await raw.put(`${brand}/${id}.json`, JSON.stringify(response), { contentType: "application/json" });
 */
export class BlobStore {
  private readonly maxBytes: number;
  private readonly prefix: string;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly options: BlobStoreOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.prefix = options.prefix ?? "";
    if (this.prefix) assertKey(this.prefix.replace(/\/$/, ""));
  }

  /** Stores `body` under `key`, replacing any previous object; refuses bad keys (400), oversized bodies (413) and other content types (415). */
  async put(key: string, body: BlobBody, options: { contentType: string; metadata?: Record<string, string> }): Promise<BlobInfo> {
    assertKey(key);
    const size = sizeOf(body);
    if (size > this.maxBytes) {
      throw new HttpProblem(413, {
        slug: "object-too-large",
        detail: `Objects are limited to ${this.maxBytes} bytes; this one has ${size}.`,
      });
    }
    if (!contentTypeAllowed(options.contentType, this.options.contentTypes)) {
      throw new HttpProblem(415, {
        slug: "unsupported-content-type",
        detail: `Content type ${options.contentType} is not accepted here (${this.options.contentTypes?.join(", ")}).`,
      });
    }
    const value = isStreamBody(body) ? body.stream.pipeThrough(new FixedLengthStream(size)) : body;
    const object = await this.bucket.put(this.prefix + key, value, {
      httpMetadata: { contentType: options.contentType },
      ...(options.metadata ? { customMetadata: options.metadata } : {}),
    });
    return infoOf(object, this.prefix);
  }

  /** The object under `key` with its body, or null when there is none. */
  async get(key: string): Promise<StoredBlob | null> {
    assertKey(key);
    const object = await this.bucket.get(this.prefix + key);
    if (!object) return null;
    return {
      ...infoOf(object, this.prefix),
      body: object.body,
      text: () => object.text(),
      json: <T>() => object.json<T>(),
      arrayBuffer: () => object.arrayBuffer(),
    };
  }

  /** Metadata of the object under `key` without its body, or null. */
  async head(key: string): Promise<BlobInfo | null> {
    assertKey(key);
    const object = await this.bucket.head(this.prefix + key);
    return object ? infoOf(object, this.prefix) : null;
  }

  /** A page of objects whose keys start with `prefix`, in key order; pass `cursor` back for the next page. */
  async list(options: { prefix?: string; cursor?: string; limit?: number } = {}): Promise<{ objects: BlobInfo[]; cursor?: string }> {
    const page = await this.bucket.list({
      prefix: this.prefix + (options.prefix ?? ""),
      limit: Math.min(Math.max(options.limit ?? 100, 1), 1000),
      include: ["httpMetadata", "customMetadata"],
      ...(options.cursor ? { cursor: options.cursor } : {}),
    });
    return { objects: page.objects.map((o) => infoOf(o, this.prefix)), ...(page.truncated ? { cursor: page.cursor } : {}) };
  }

  /** Deletes the objects under `keys`; deleting a missing key is not an error. */
  async delete(...keys: string[]): Promise<void> {
    keys.forEach(assertKey);
    if (keys.length > 0) await this.bucket.delete(keys.map((k) => this.prefix + k));
  }
}
