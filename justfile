# Recipes for people who have `just`; each one is a thin wrapper over `cargo xtask`,
# which needs nothing but rustup and cargo.

# Build the plugin components (wasm32-wasip2) and the host.
build:
    cargo xtask build

# Full Wiz sync against the simulator into SQLite, then the findings, assets and history.
demo:
    cargo xtask demo

# Lint, then the whole test suite (unit, fixtures, end-to-end).
test:
    cargo xtask test

# rustfmt and clippy, warnings as errors.
lint:
    cargo xtask lint

# Benchmarks against the simulator in a release build; writes target/bench/results.json.
bench *ARGS:
    cargo xtask bench {{ARGS}}

# cargo-mutants over the rules and pure security modules, host unit tests (45-60 min; not CI).
mutants *ARGS:
    cargo xtask mutants {{ARGS}}
