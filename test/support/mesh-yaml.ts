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
