# syntax=docker/dockerfile:1
# The fake Zoom of the compose trial (cmd/zoomfake), built like zoomsync.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/zoomfake ./cmd/zoomfake

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zoomfake /usr/local/bin/zoomfake
USER nonroot:nonroot
EXPOSE 9000
ENTRYPOINT ["/usr/local/bin/zoomfake"]
