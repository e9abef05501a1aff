//! One module per subcommand. Each takes its parsed arguments and the loaded configuration
//! and returns an [`ExitStatus`]; only here are library errors turned into `anyhow` errors
//! and exit codes.

use std::process::ExitCode;

/// What a command tells the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Done, and nothing found that should fail a pipeline.
    Success,
    /// Done, and drift was found (`diff`): CI should fail.
    Drift,
    /// Could not do the job: bad input, unreadable spec, store error.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        match s {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Drift => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};
use crate::config::Config;

/// Loads the configuration, sets up logging and runs the chosen command.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    init_logging(cli.log.as_deref(), cli.log_format.unwrap_or(LogFormat::Text));
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Serve(args) => serve::run(args, &config),
        Command::Ingest(args) => ingest::run(args, &config),
        Command::Inventory(args) => inventory::run(args, &config),
        Command::Diff(args) => diff::run(args, &config),
        Command::Demo(args) => demo::run(args, &config),
    }
}

fn init_logging(filter: Option<&str>, format: LogFormat) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling `run` twice) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub mod demo;
pub mod diff;
pub mod ingest;
pub mod inventory;
pub mod serve;
