# Builds the `dangan` binary and runs it on a small Debian image.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p dangan-api --bin dangan

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/dangan --create-home dangan
COPY --from=build /src/target/release/dangan /usr/local/bin/dangan
USER dangan
WORKDIR /var/lib/dangan
ENV DANGAN_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["dangan"]
CMD ["serve"]
