use std::process::ExitCode;

use clap::Parser;
use shadowscan::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match shadowscan::commands::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // `{:#}` prints the whole context chain on one line, ripgrep-style. A closed
            // stderr must not turn the error's exit status into a panic's.
            use std::io::Write;
            // Specs and traffic put attacker-chosen text in messages: one escaped line.
            let message = format!("{err:#}");
            let _ = writeln!(
                std::io::stderr(),
                "shadowscan: error: {}",
                shadowscan::untrusted::escape(&message)
            );
            ExitCode::from(2)
        }
    }
}
