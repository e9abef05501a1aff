use std::process::ExitCode;

use clap::Parser;
use shadowscan::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match shadowscan::commands::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // `{:#}` prints the whole context chain on one line, ripgrep-style.
            eprintln!("shadowscan: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
