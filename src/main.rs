use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    studio_billing::server::cli::run(studio_billing::server::cli::Cli::parse()).await
}
