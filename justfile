# clusterlab recipes. `just --list` shows them. The simulation build uses `--cfg madsim` and its
# own target dir (target/sim) so it never invalidates the normal build.

sim_flags := "--cfg madsim"

# Everything CI runs: the normal test suite, then the simulation tests.
test: test-normal test-sim

# Normal build: unit tests of every crate, interop tests against real processes.
test-normal:
    cargo test --workspace

# Simulation build: the harness's own tests and the scenario tests in sim-tests.
test-sim:
    RUSTFLAGS="{{sim_flags}}" cargo test --target-dir target/sim -p clusterlab-sim -p clusterlab-sim-tests

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
