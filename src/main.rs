//! The `mail-ballot` command: parses the command line and hands over to `cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = mail_ballot::cli::Cli::parse_args();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mail_ballot::cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        // `{:#}` keeps the reason of an error given context ("cannot read
        // F: permission denied"), on one line.
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
