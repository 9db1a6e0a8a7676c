//! Logging to stderr through `tracing`; `-v` shows the tool's decisions, `-vv` everything.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger; `RUST_LOG` overrides the verbosity flags.
pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
