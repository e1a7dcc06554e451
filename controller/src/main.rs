//! `controller` entry point: configuration, logging, signals.

use std::process::ExitCode;

use controller::config::{Config, LogFormat};
use tracing_subscriber::fmt::writer::MakeWriterExt;

fn init_logging(config: &Config) {
    let level = config.log_level;
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(ansi);
    // INFO and below to stdout, WARN and ERROR to stderr (upstream's --log-info-stdout).
    let stdout_split = config.log_info_stdout;
    let writer = move || -> Box<dyn std::io::Write> { Box::new(std::io::stderr()) };
    let err = std::io::stderr.with_max_level(tracing::Level::WARN);
    match (config.log_format, stdout_split) {
        (LogFormat::Json, true) => builder
            .json()
            .with_writer(err.or_else(std::io::stdout))
            .init(),
        (LogFormat::Json, false) => builder.json().with_writer(writer).init(),
        (LogFormat::Text, true) => builder.with_writer(err.or_else(std::io::stdout)).init(),
        (LogFormat::Text, false) => builder.with_writer(writer).init(),
    }
}

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            if let Some(clap_err) = e.downcast_ref::<clap::Error>() {
                let _ = clap_err.print();
                return ExitCode::from(if clap_err.use_stderr() { 2 } else { 0 });
            }
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if config.print_version {
        println!("controller version: v{}", controller::VERSION);
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            }
            let _ = tx.send(true);
        });
        controller::run(config, rx).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "controller failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
