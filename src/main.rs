use clap::Parser;
use std::process::ExitCode;

/// jemalloc: measured against the C library's allocator and mimalloc under load, it served
/// pages fastest (README, "Fast pages"). The release build turns it on (`bin-features`);
/// `--features mimalloc` instead, or neither, builds the others to measure again.
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    studio_billing::server::cli::run(studio_billing::server::cli::Cli::parse()).await
}
