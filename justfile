# arw task runner: `just --list` shows the recipes.

arw := "target/debug/arw"

# Run the whole test suite (what CI runs).
test:
    cargo test --no-fail-fast

# Build, then regenerate completions/ and man/ from the CLI definition.
docs:
    cargo build
    for shell in bash zsh fish; do {{arw}} completions $shell --dir completions; done
    rm -f man/*.1
    {{arw}} man --dir man

# Show the runtime status table (starts the daemon if needed).
runtime-status *ARGS:
    cargo run --quiet -- runtime status {{ARGS}}

# The stub smoke, then the simulated-GPU smoke.
runtime-smoke:
    cargo run --quiet -- runtime smoke
    LLAMA_GPU_SIMULATE=1 MODE=gpu cargo run --quiet -- runtime smoke

# The vision smoke (stub llava, forced restore, recovery).
runtime-smoke-vision:
    ARW_SMOKE_MODE=vision cargo run --quiet -- runtime smoke

# Fetch the default GGUF (TinyLlama) into the Hugging Face cache; nothing
# downloads without `--allow-downloads` or LLAMA_ALLOW_DOWNLOADS=1.
runtime-weights *ARGS:
    cargo run --quiet -- runtime weights {{ARGS}}

# Run the benchmarks in bench/ and print ratios.
bench:
    bench/run
    bench/smoke
    bench/real
    bench/weights

# Everything CI checks.
ci:
    bash .ci/run
