# clusterlab recipes. `just --list` shows them. The simulation build uses `--cfg madsim` and its
# own target dir (target/sim) so it never invalidates the normal build.

sim_flags := "--cfg madsim"

# Everything CI runs: the normal test suite, then the simulation tests.
test: test-normal test-sim

# Normal build: unit tests of every crate, interop tests against real processes.
test-normal:
    cargo test --workspace

# Simulation build: the harness's own tests (and its doctests: RUSTDOCFLAGS), the scenario
# tests in sim-tests and the worked example examples/cache-aside.
test-sim:
    RUSTFLAGS="{{sim_flags}}" RUSTDOCFLAGS="{{sim_flags}}" cargo test --target-dir target/sim -p clusterlab-sim -p clusterlab-sim-tests -p clusterlab-example-cache-aside

# A simulation campaign, e.g. `just sim --seeds 200` or `just sim --seed 7 --seeds 1`.
sim *args:
    RUSTFLAGS="{{sim_flags}}" cargo run --release --target-dir target/sim -p clusterlab -- sim run {{args}}

# Re-record insta snapshots of the scenario tests; review every changed .snap before committing.
snap:
    INSTA_UPDATE=always RUSTFLAGS="{{sim_flags}}" cargo test --target-dir target/sim -p clusterlab-sim-tests
    git status --short sim-tests/tests/snapshots

# Interop tests only (crates/cli/tests/*.rs): real redis-cli and clients vs clusterlab processes.
interop:
    @command -v redis-cli >/dev/null || { echo "redis-cli missing: apt-get install -y redis-tools" >&2; exit 1; }
    cargo test -p clusterlab --test '*'

# scripts/bench.sh takes BENCH_* settings and records its table into BENCHMARKS.md.
# Throughput, p50/p99 latency and memory: 3-master clusterlab vs redis-server, side by side.
bench:
    scripts/bench.sh

# scripts/bench-failover.sh takes BENCH_* settings and records its table into BENCHMARKS.md.
# Failover times and lost acknowledged writes at node-timeout 5000/2000, vs redis-server.
bench-failover:
    scripts/bench-failover.sh

# The same seeds for 3 masters, then 3 masters + 3 replicas (shape and knobs pinned, not drawn,
# so figures compare across commits); prints each summary's virtual:wall
# ratio and seeds/minute, plus the CPU seconds used (wall time depends on the machine's load).
# Speed of the default campaign (a benchmark, not a test).
bench-sim seeds="200":
    RUSTFLAGS="{{sim_flags}}" cargo build --release --target-dir target/sim -p clusterlab
    @for replicas in 0 1; do \
        echo "== 3 masters, $replicas replica(s) each: seeds 1..{{seeds}}"; \
        /usr/bin/env time -f "cpu: %U s user + %S s system" ./target/sim/release/clusterlab sim run \
            --seed 1 --seeds {{seeds}} --masters 3 --replicas $replicas --node-timeout-ms 5000 \
            --validity-factor 10 --full-coverage yes --reads-when-down no --replica-migration yes \
            --appendfsync always --no-save 2>&1 \
            | grep -E "^(seeds run|virtual time|wall time|throughput|cpu)"; \
    done

# Mutation testing: cargo-mutants over the core's cluster/ and replication/ code, with a short
# sim campaign as the test (sim-tests/tests/mutants.rs: campaign seeds with replicas, simulation
# build, target/sim), then the score and the surviving mutants (scripts/mutants-summary.sh).
# Extra arguments go to cargo-mutants: `just mutants --file crates/core/src/cluster/epochs.rs`
# (that file instead of the whole set) or `just mutants --shard 0/20`. The whole set takes
# hours on 2 cores. Needs `cargo install --locked cargo-mutants`.
mutants *args:
    #!/usr/bin/env bash
    set -uo pipefail
    command -v cargo-mutants >/dev/null || { echo "cargo-mutants missing: cargo install --locked cargo-mutants" >&2; exit 1; }
    files=(--file 'crates/core/src/cluster/**' --file 'crates/core/src/replication/**')
    case " {{args}} " in *" --file "* | *" -f "*) files=() ;; esac
    # cargo-mutants builds each mutant in its own copy of the tree; the target dir stays ours.
    # Its baseline would run the test filter in the mutated package (core), which has no such
    # test: skipped, with a fixed timeout (the campaign takes about 10 s in the debug build).
    RUSTFLAGS="{{sim_flags}}" CARGO_TARGET_DIR="$PWD/target/sim" cargo mutants \
        "${files[@]}" --exclude '**/tests/**' --exclude '**/tests.rs' {{args}} \
        --test-package clusterlab-sim-tests --baseline skip --timeout 120 \
        -- --test mutants mutants_campaign
    status=$?
    scripts/mutants-summary.sh mutants.out
    exit $status

# Redis 7.0's own cluster suite (fetched from Debian's source package into target/redis-suite,
# never vendored) against clusterlab, one line per file: `just redis-suite 00-base 10-manual-failover`.
# `just redis-suite --reference` runs the same files against the real redis-server to compare.
redis-suite *args:
    scripts/redis-suite.sh {{args}}

# The campaign's shard/merge path as the GitHub workflow and the Kubernetes Jobs run it
# (scripts/campaign.sh), tested locally on tiny seed counts against one unsharded run.
campaign-test:
    RUSTFLAGS="{{sim_flags}}" cargo build --release --target-dir target/sim -p clusterlab
    scripts/campaign-test.sh
