//! The `rkeras` binary: `main` parses flags, turns them into a validated plan, runs it, and
//! prints the whole error chain on failure. Exit codes: 0 ok, 1 usage, 2 runtime failure.

mod args;
mod cmd;
mod models;
mod plan;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let bucket_mb = match &cli.command {
        args::Command::Train { fit, .. } => fit.bucket_mb,
        _ => None,
    };
    if let Some(mb) = bucket_mb.filter(|mb| !(mb.is_finite() && *mb > 0.0 && *mb <= 4096.0)) {
        eprintln!("error: --bucket-mb {mb} must be a size in MiB above 0 and at most 4096");
        return ExitCode::from(1);
    }
    let plan = match plan::Plan::from_cli(cli) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    // `mpirun -np N rkeras train ...`: data-parallel over MPI, alive until the command ends.
    let _distribution = match rkeras::distribution::launched_by_mpirun() {
        None => None,
        Some(n) => {
            match rkeras::distribution::DataParallel::init() {
                Ok(dp) => {
                    if let Some(mb) = bucket_mb {
                        dp.set_bucket_bytes((mb * 1_048_576.0) as usize);
                    }
                    if dp.rank() == 0 {
                        println!("Data-parallel training on {n} ranks (MPI): each batch split across them");
                    } else {
                        quiet_stdout();
                    }
                    Some(dp)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    };
    match cmd::run(plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::from(2)
        }
    }
}

/// A rank other than 0 prints nothing to stdout (the data set's shapes, the summary, the
/// test results would otherwise come once per rank); its errors still go to stderr.
fn quiet_stdout() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    // SAFETY: `dup2` on two open descriptors (stdout and /dev/null, which stays open until
    // `null` is dropped after the call) has no memory effects; stdout's buffer was flushed.
    unsafe {
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), libc::STDOUT_FILENO);
    }
}

/// The error and its causes, `: `-separated, skipping a cause whose text the message before
/// it already contains (rkeras's I/O errors print their cause themselves).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
