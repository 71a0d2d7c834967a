# aijobs in a container: a static binary (the SQLite driver is pure Go), run
# as a non-root user, its data in the volume /data.
#
#   docker build -t aijobs . && docker run -p 8080:8080 -v aijobs-data:/data aijobs

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/aijobs ./cmd/aijobs \
 && mkdir -p /out/data

# distroless/static: CA certificates (for the OpenAI and Anthropic APIs),
# time zones, the user nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aijobs /aijobs
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/aijobs"]
CMD ["serve", "--data-dir", "/data", "--addr", "0.0.0.0:8080"]
