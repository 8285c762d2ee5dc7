//! `berth`: the Berth command line (validate and normalize task definitions; the server and
//! dashboard come with the embedded cluster).

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
