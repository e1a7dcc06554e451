//! `controller` entry point: configuration, logging, signals.

use std::process::ExitCode;

use controller::config::Config;

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
    controller::logging::init(config.log_format, config.log_level, config.log_info_stdout);
    let errors_logged = config.log_level <= controller::logging::SlogLevel::ERROR;
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
            // One line on stderr: the log record (JSON stays JSON), or plain text when the
            // log level hides errors.
            if errors_logged {
                tracing::error!(error = %format!("{e:#}"), "controller failed");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
