# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
RUN cargo build --release --locked --bin nnlab

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /app nnlab
WORKDIR /app
COPY --from=build /src/target/release/nnlab /usr/local/bin/nnlab
COPY static ./static
COPY data/mnist ./data/mnist
RUN mkdir -p /app/db && chown -R nnlab:nnlab /app
USER nnlab
ENV NNLAB_ADDR=0.0.0.0:8080 \
    NNLAB_DATABASE_URL=sqlite:///app/db/nnlab.db \
    NNLAB_DATA_DIR=/app/data \
    NNLAB_STATIC_DIR=/app/static
EXPOSE 8080
CMD ["nnlab"]
