# The simulation binary (`clusterlab sim …`, built with --cfg madsim) and scripts/campaign.sh,
# for running campaign shards on any container engine (deploy/k8s/, or `docker run`):
#
#   docker build -t clusterlab-sim .
#   docker run --rm -v "$PWD/out:/results" clusterlab-sim campaign.sh shard 0 4 1000000 500 /results
#   docker run --rm -v "$PWD/out:/results" clusterlab-sim campaign.sh merge /results
#   docker run --rm clusterlab-sim clusterlab sim run --seed 7 --seeds 100
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="--cfg madsim" cargo build --release --locked --target-dir target/sim -p clusterlab \
    && cp target/sim/release/clusterlab /clusterlab

FROM debian:bookworm-slim
COPY --from=build /clusterlab /usr/local/bin/clusterlab
COPY scripts/campaign.sh /usr/local/bin/campaign.sh
WORKDIR /results
CMD ["clusterlab", "sim", "run", "--help"]
