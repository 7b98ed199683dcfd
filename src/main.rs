//! The `moat` binary: parse the command line and hand over to the subcommand.
//! The startup story itself is in `supervisor` (see `cli/run.rs`).

fn main() {
    std::process::exit(moat::cli::main());
}
