import {
  type Context,
  context,
  type Link,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { Config } from "./config.js";
import { sourceKey } from "./domain/source-key.js";
import { type Logger, scrubUrl } from "./logger.js";
import { BUILD_INFO } from "./version.js";

/**
 * OpenTelemetry tracing, off unless a traces URL is configured (`PGSYNC_OTLP_ENDPOINT` or the
 * standard `OTEL_EXPORTER_OTLP_ENDPOINT`). Off, every span below is the API's no-op and costs
 * nothing. Spans (docs/operations.md):
 * - `<service>/<method>` (server): one per RPC, child of the caller's `traceparent` when sent;
 * - `pgsync.bridge.batch`: one per Electric batch, from its receipt to its commit;
 * - `pgsync.wake.send`: one per wake a WatchWakes stream sends, child of the RPC's span and
 *   linked to the batch spans that committed its changes (when this process committed them).
 */
export const tracer = trace.getTracer("pg-sync", BUILD_INFO.version);

/** The running tracing: `stop` flushes the spans not exported yet. */
export interface Tracing {
  stop(): Promise<void>;
}

/**
 * Starts exporting spans to `config.tracesUrl` over OTLP/HTTP (JSON) in batches, with the W3C
 * `traceparent` propagator and async context; a no-op without a URL. `OTEL_SERVICE_NAME`
 * (default `pg-sync`) and `OTEL_EXPORTER_OTLP_HEADERS` are read by the SDK as usual.
 *
 * The SDK and the exporter are imported only when tracing is on: loaded, they hold about 4 MB of
 * heap (their code and the OTLP transformer's), which a server without a traces URL never uses.
 */
export async function startTracing(
  config: Pick<Config, "tracesUrl">,
  logger: Logger,
  serviceName = "pg-sync",
): Promise<Tracing> {
  const url = config.tracesUrl;
  if (!url) return { stop: async () => {} };
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] =
    await Promise.all([
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace-node"),
    ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName, "service.version": BUILD_INFO.version }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  provider.register();
  logger.info({ traces_url: scrubUrl(url) }, "tracing on: exporting spans over OTLP/HTTP");
  return {
    async stop() {
      await provider.shutdown().catch((err: unknown) => {
        logger.warn({ err: { message: (err as Error).message } }, "flushing spans failed");
      });
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The context a request's `traceparent`/`tracestate` headers carry (the active one without them). */
export function extractRequestContext(headers: Headers): Context {
  return propagation.extract(context.active(), headers, {
    keys: (carrier) => [...carrier.keys()],
    get: (carrier, key) => carrier.get(key) ?? undefined,
  });
}

/** Most batch spans remembered for linking wakes to them, per process. */
const MAX_BATCH_LINKS = 10_000;

/** Recent committed batches: source key → seq ranges with the span that committed them. */
const batchLinks = new Map<string, { from: bigint; to: bigint; link: Link }[]>();
let remembered = 0;

/**
 * Remembers that `span` committed seqs `from..to` of the source, so the wakes that deliver them
 * can link to it. In memory and bounded ({@link MAX_BATCH_LINKS}, oldest sources dropped first): a
 * wake sent by another replica, or long after, has no link. Nothing is stored when tracing is off.
 */
export function rememberBatch(tenant: string, sourceRef: string, from: bigint, to: bigint, span: Span): void {
  const spanContext = span.spanContext();
  if (!span.isRecording() || to < from) return;
  const key = sourceKey(tenant, sourceRef);
  const list = batchLinks.get(key) ?? [];
  list.push({ from, to, link: { context: spanContext } });
  batchLinks.delete(key);
  batchLinks.set(key, list.slice(-100));
  remembered++;
  if (remembered > MAX_BATCH_LINKS) {
    const oldest = batchLinks.keys().next().value;
    if (oldest !== undefined) batchLinks.delete(oldest);
    remembered = [...batchLinks.values()].reduce((n, l) => n + l.length, 0);
  }
}

/** Links to the remembered batch spans that committed any seq in `from..to` of the source. */
function batchLinksFor(tenant: string, sourceRef: string, from: bigint, to: bigint): Link[] {
  const list = batchLinks.get(sourceKey(tenant, sourceRef)) ?? [];
  return list.filter((b) => b.from <= to && b.to >= from).map((b) => b.link);
}

/** A wake about to be sent, as the span needs it. */
export interface WakeToTrace {
  readonly tenant: string;
  readonly sourceRef: string;
  readonly wakeId: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly changes: number;
}

/** Starts the `pgsync.wake.send` span of a wake under `parent` (the RPC's context); end it once sent. */
export function startWakeSpan(parent: Context | undefined, wake: WakeToTrace): Span {
  return tracer.startSpan(
    "pgsync.wake.send",
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "pgsync.tenant": wake.tenant,
        "pgsync.source_ref": wake.sourceRef,
        "pgsync.wake_id": wake.wakeId,
        "pgsync.changes": wake.changes,
        "pgsync.first_seq": Number(wake.firstSeq),
        "pgsync.last_seq": Number(wake.lastSeq),
      },
      links: batchLinksFor(wake.tenant, wake.sourceRef, wake.firstSeq, wake.lastSeq),
    },
    parent,
  );
}

/** Seqs a batch appended to the log: `from..to`, empty when `to < from`. */
export interface CommittedRange {
  readonly from: bigint;
  readonly to: bigint;
}

/**
 * Runs a batch's commit inside a `pgsync.bridge.batch` span (from the batch's receipt to its
 * commit) and remembers the seqs it appended for the wakes' links. A failure marks the span.
 */
export async function traceBatch(
  tenant: string,
  sourceRef: string,
  messages: number,
  commit: () => Promise<CommittedRange | undefined>,
): Promise<void> {
  const span = tracer.startSpan("pgsync.bridge.batch", {
    kind: SpanKind.CONSUMER,
    attributes: { "pgsync.tenant": tenant, "pgsync.source_ref": sourceRef, "pgsync.messages": messages },
  });
  try {
    const range = await commit();
    if (range && range.to >= range.from) {
      span.setAttribute("pgsync.appended", Number(range.to - range.from + 1n));
      rememberBatch(tenant, sourceRef, range.from, range.to, span);
    }
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).name });
    throw err;
  } finally {
    span.end();
  }
}
