// What a proxy writes to its access logs, compiled from Istio's Telemetry `accessLogging` and MeshConfig
// (config/compile/access-log.ts) into the snapshot's `accessLog` field. Plain JSON-safe data: the proxy
// compiles the formats and filters once per snapshot (proxy/telemetry/access-log/).

/** How a log entry is written. */
export type AccessLogFormat =
  /** Weft's compact line (what a proxy prints when no access log is configured at all). */
  | { kind: 'weft' }
  /** An Envoy format string (`%START_TIME%`, `%REQ(:METHOD)%`, …); one line per request; '' = Istio's default. */
  | { kind: 'text'; text: string; omitEmptyValues?: boolean }
  /** A JSON object per request: keys -> Envoy format strings (Istio's `labels`); {} = Istio's default keys. */
  | { kind: 'json'; labels: Record<string, unknown>; omitEmptyValues?: boolean };

export interface AccessLogSink {
  /** The provider that asked for it (`envoy`, an extensionProviders name, or `mesh` for accessLogFile). */
  provider: string;
  /** `/dev/stdout` (the proxy's own output), `/dev/stderr`, or a file the proxy appends to. */
  path: string;
  format: AccessLogFormat;
  /** CEL filter (Telemetry `filter.expression`): only requests it accepts are written. */
  filter?: string;
  /** envoyOtelAls: each entry is exported as an OpenTelemetry LogRecord (OTLP/gRPC) instead of written
   *  to `path` (then `grpc://host:port`, for display): body = `format` (text), attributes = `attributes`. */
  otel?: AccessLogOtel;
  /** A provider kind Weft does not export to (envoyHttpAls, envoyTcpAls): nothing is written, and the
   *  proxy says so in its log rather than stay silent. */
  unsupported?: string;
}

export interface AccessLogOtel {
  /** The collector's OTLP/gRPC address, connected to directly (not through the mesh). */
  host: string;
  port: number;
  /** Istio's logName (default `otel_envoy_accesslog`): the LogRecords' instrumentation scope name. */
  logName: string;
  /** Attribute name -> Envoy format string (Istio's `logFormat.labels`); other JSON values as they are. */
  attributes: Record<string, unknown>;
}

/** Per side; empty = that side writes no access log (and costs nothing). */
export interface AccessLogSettings {
  /** Outbound and gateway listeners (Istio's CLIENT mode). */
  client: AccessLogSink[];
  /** Inbound listener (SERVER mode). */
  server: AccessLogSink[];
}
