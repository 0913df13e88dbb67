# syntax=docker/dockerfile:1
# zoomsync: a static binary on distroless, running as non-root.
# Build: docker build --build-arg VERSION=v1.2.3 -t zoomsync:v1.2.3 .
# Without VERSION, `zoomsync version` names the commit and its time that
# the Go toolchain reads from the checkout (.git is part of the context).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto \
      -ldflags "-s -w ${VERSION:+-X github.com/zoomsync/zoomsync/internal/buildinfo.version=${VERSION}} ${COMMIT:+-X github.com/zoomsync/zoomsync/internal/buildinfo.commit=${COMMIT}}" \
      -o /out/zoomsync ./cmd/zoomsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zoomsync /usr/local/bin/zoomsync
USER nonroot:nonroot
EXPOSE 8080 8081
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (deploy/helm).
ENTRYPOINT ["/usr/local/bin/zoomsync"]
CMD ["serve"]
