/**
 * Turns texts into embeddings for a query or an upsert that gives a text instead of a vector. Callers that have
 * vectors never need one.
 */
export interface EmbeddingProvider {
  /** The model's name, e.g. `@cf/baai/bge-small-en-v1.5`. */
  readonly model: string;
  /** One embedding per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
}

/** The part of a Workers AI binding (`env.AI`) that embedding needs. */
export interface AiBinding {
  run(model: string, input: { text: string[] }): Promise<unknown>;
}

/** Workers AI's small English embedding model: 384 dimensions, cosine. */
export const DEFAULT_EMBEDDING_MODEL = "@cf/baai/bge-small-en-v1.5";

/**
 * Embeddings from Workers AI. Production only: Workers AI runs on Cloudflare's network, and nothing local
 * stands in for it, so a local gateway without an `AI` binding answers 501 to a text query.
 * @example const provider = workersAiEmbeddings(env.AI); const [v] = await provider.embed(["hello"]);
 */
export function workersAiEmbeddings(ai: AiBinding, model: string = DEFAULT_EMBEDDING_MODEL): EmbeddingProvider {
  return {
    model,
    async embed(texts) {
      if (texts.length === 0) return [];
      const out = (await ai.run(model, { text: [...texts] })) as { data?: unknown };
      const data = out.data;
      if (!Array.isArray(data) || data.length !== texts.length || !data.every((v) => Array.isArray(v))) {
        throw new Error(`Workers AI model ${model} answered without one embedding per text`);
      }
      return data as number[][];
    },
  };
}

/** The provider of an env: Workers AI when the worker has an `AI` binding, else none. */
export function embeddingProviderOf(env: { AI?: AiBinding | undefined }): EmbeddingProvider | undefined {
  return env.AI ? workersAiEmbeddings(env.AI) : undefined;
}
