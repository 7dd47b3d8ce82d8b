//! `seawall`: simulates resilience configurations (see `seawall --help`).

fn main() {
    std::process::exit(seawall_cli::cli::main(std::env::args()));
}
