# syntax=docker/dockerfile:1
# zoomsync: a static binary on distroless, running as non-root.
# Build: docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse --short HEAD) -t zoomsync .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/zoomsync/zoomsync/internal/cli.version=${VERSION} -X github.com/zoomsync/zoomsync/internal/cli.commit=${COMMIT}" \
      -o /out/zoomsync ./cmd/zoomsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zoomsync /usr/local/bin/zoomsync
USER nonroot:nonroot
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (deploy/kubernetes).
ENTRYPOINT ["/usr/local/bin/zoomsync"]
CMD ["serve"]
