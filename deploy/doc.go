// Package deploy holds what runs zoomsync outside a developer's machine:
// the Helm chart (helm/zoomsync), the plain Kubernetes manifests rendered
// from it (kubernetes/), the Grafana dashboard (grafana/), a Docker
// Compose trial (compose/) and, beside them, the repository's Dockerfile.
// It has no code; its tests are what keeps these files honest (no Docker
// engine or cluster is available where CI runs).
//
// Invariants, each checked by a test:
//   - The chart lints and renders for a single Redis, Sentinel and a
//     Cluster (helm/zoomsync/ci), with the pinned Helm (tools/helm.mod), and
//     what it renders is a configuration zoomsync's own loader accepts.
//   - Images are referenced by version, never :latest.
//   - Every environment variable set anywhere here is one zoomsync reads.
//   - The alerts and the dashboard query only metrics serve exports (their
//     PromQL parsed with Prometheus' parser), and every alert is explained
//     in docs/OPERATIONS.md §6.
//   - kubernetes/zoomsync.yaml is exactly the chart rendered with
//     kubernetes/values.yaml (task manifests writes it), and
//     kubernetes/secret.example.yaml has every Secret and key it uses.
//   - Both listeners are exposed as Service ports http (8080: webhooks,
//     health) and admin (8081: /metrics, /v1/*, the board); an Ingress
//     routes only the /webhooks/ prefix, to http; probes use http, the
//     ServiceMonitor admin; the NetworkPolicy example opens http to
//     anyone and admin to the peers chosen.
//   - The compose trial (Redis with AOF, OpenLDAP holding the fake Zoom's
//     users, cmd/zoomfake, zoomsync) parses, pins its images, and its
//     zoomsync settings are accepted by zoomsync's loader.
package deploy
