// What a proxy traces, compiled from Istio's Telemetry resources and MeshConfig (config/compile/tracing.ts)
// into the snapshot's `tracing` field. Plain JSON-safe data, like the rest of the snapshot.

/** A tracing backend from MeshConfig `extensionProviders` (`opentelemetry` or `zipkin`). */
export interface TracingProvider {
  name: string;
  /** opentelemetry: OTLP over HTTP (protobuf); zipkin: Zipkin v2 JSON. */
  kind: 'opentelemetry' | 'zipkin';
  host: string;
  port: number;
  /** A mesh service: spans go through this proxy's own outbound listener (mTLS to the collector). */
  viaMesh?: boolean;
  /** URL path: `/v1/traces` (OTLP) or `/api/v2/spans` (Zipkin) unless the provider says otherwise. */
  path: string;
  timeoutMs: number;
  /** Extra request headers; `envName` is read from the proxy's environment. */
  headers: Array<{ name: string; value?: string; envName?: string }>;
  /** Tag values longer than this are cut (Envoy's max_tag_length for the path tag); 0 = no limit. */
  maxTagLength: number;
}

/** Istio's Telemetry `customTags`: a literal, an environment variable of the proxy, or a request header. */
export interface TracingCustomTag {
  tag: string;
  literal?: string;
  environment?: { name: string; defaultValue?: string };
  header?: { name: string; defaultValue?: string };
}

/** Tracing on one side of the proxy; absent = that side neither touches trace headers nor reports spans. */
export interface TracingSide {
  /** Random sampling for requests that bring no decision, 0..100. */
  samplingPercentage: number;
  provider: TracingProvider;
  /** Istio's `istio.*` tags (enableIstioTags, default true). */
  istioTags: boolean;
  customTags: TracingCustomTag[];
}

export interface TracingSettings {
  /** Outbound and gateway listeners (CLIENT spans). */
  client?: TracingSide;
  /** Inbound listener (SERVER spans). */
  server?: TracingSide;
  /** `istio.mesh_id` (defaultConfig.meshId, else the trust domain). */
  meshId: string;
  /** `istio.cluster_id` (Istio's default cluster name). */
  clusterId: string;
}
