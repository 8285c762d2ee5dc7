//! `berth`: the Berth command line (validate and normalize task definitions; the server and
//! dashboard come with the embedded cluster).

use clap::Parser;

/// mimalloc instead of glibc's malloc: the server allocates and frees many small objects per
/// request (JSON values, strings), where glibc's allocator cost a third of the CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> std::process::ExitCode {
    cli::run(cli::Cli::parse())
}
