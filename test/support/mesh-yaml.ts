// YAML the end-to-end tests share: the echo server (test/support/echo-server.ts) as a Workload behind
// a Service `echo` on port 8080, ready once /health answers.
export const ECHO_YAML = `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: echo, labels: {app: echo}}
spec:
  serviceAccount: echo
  ports: [{name: http, containerPort: 8080}]
  command: [node, dist/test/support/echo-server.js]
  readinessProbe: {httpGet: {path: /health}}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080}]`;

/** A TCP echo server (stream-servers.ts: a banner, then every byte back) behind a Service `tcp-echo` on 9000. */
export const TCP_ECHO_YAML = `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: tcp-echo, labels: {app: tcp-echo}}
spec:
  serviceAccount: tcp-echo
  ports: [{name: tcp, containerPort: 9000}]
  command: [node, dist/test/support/stream-servers.js, tcp]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo}
spec:
  selector: {app: tcp-echo}
  ports: [{name: tcp, port: 9000}]`;

/** A client Workload without a process of its own: a sidecar whose outbound listener is on `port`. */
export const clientYaml = (port: number) => `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: client, labels: {app: client}}
spec:
  serviceAccount: client
  sidecar: {outboundPort: ${port}}`;

/** A Workload running `command` behind a Service of the same name on `port` (named `portName`), ready
 *  once `readyPath` answers when one is given, then `---`. */
export const workloadYaml = (
  name: string,
  port: number,
  command: string[],
  portName = 'http',
  readyPath?: string,
) => `
apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}, labels: {app: ${name}}}
spec:
  serviceAccount: ${name}
  ports: [{name: ${portName}, containerPort: ${port}}]
  command: ${JSON.stringify(command)}${readyPath ? `\n  readinessProbe: {httpGet: {path: ${readyPath}}}` : ''}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {app: ${name}}
  ports: [{name: ${portName}, port: ${port}}]
---`;

/** The echo, WebSocket echo and TCP echo apps (stream-servers.ts) as Workloads behind Services of their names. */
export const STREAM_APPS_YAML = [
  workloadYaml('echo', 8080, ['node', 'dist/test/support/echo-server.js']),
  workloadYaml('ws-echo', 8081, ['node', 'dist/test/support/stream-servers.js', 'ws']),
  workloadYaml('tcp-echo', 9000, ['node', 'dist/test/support/stream-servers.js', 'tcp'], 'tcp'),
];
