// What a proxy exports as Istio's standard metrics, compiled from Istio's Telemetry `metrics` and
// MeshConfig `defaultProviders.metrics` (config/compile/telemetry-metrics.ts) into the snapshot's
// `metrics` field. Plain JSON-safe data: the proxy compiles the tag expressions once per snapshot
// (proxy/telemetry/metric-overrides.ts). Absent from a snapshot = Istio's metrics unchanged.

/** Istio's metric selector names -> the Prometheus series they stand for. */
export const ISTIO_METRIC_NAMES = {
  REQUEST_COUNT: 'istio_requests_total',
  REQUEST_DURATION: 'istio_request_duration_milliseconds',
  REQUEST_SIZE: 'istio_request_bytes',
  RESPONSE_SIZE: 'istio_response_bytes',
  TCP_OPENED_CONNECTIONS: 'istio_tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'istio_tcp_connections_closed_total',
  TCP_SENT_BYTES: 'istio_tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'istio_tcp_received_bytes_total',
  // Weft does not export these (Istio counts gRPC stream messages); overrides of them are kept and shown.
  GRPC_REQUEST_MESSAGES: 'istio_request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'istio_response_messages_total',
} as const;

export type IstioMetric = keyof typeof ISTIO_METRIC_NAMES;
export const ISTIO_METRICS = Object.keys(ISTIO_METRIC_NAMES) as IstioMetric[];
export const REQUEST_METRICS = [
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
] as const;
export const TCP_METRICS = [
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
] as const;

export interface MetricOverride {
  /** The series is not exported. */
  disabled?: true;
  /** Label name -> CEL expression giving its value (UPSERT), or null (REMOVE). */
  tags?: Record<string, string | null>;
}

export interface MetricsSide {
  /** The Prometheus providers in effect; empty = this side exports no istio_* metric at all. */
  providers: string[];
  /** Only metrics with an override are listed. */
  metrics: Partial<Record<IstioMetric, MetricOverride>>;
}

export interface MetricsSettings {
  /** Outbound and gateway listeners (Istio's CLIENT mode, reporter="source"). */
  client: MetricsSide;
  /** Inbound listener (SERVER mode, reporter="destination"). */
  server: MetricsSide;
  /** As configured; a pull-based Prometheus endpoint is always current, so it changes nothing. */
  reportingInterval?: string;
}
