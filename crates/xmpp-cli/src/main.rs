//! The `xmpp` command-line tool: `demo`, `serve`, `user`, `login`, `send`,
//! `shell`, `bench`, `probe`.

#![cfg_attr(test, allow(clippy::unwrap_used))]
// Doc comments on the clap types are the `--help` text, where XML elements
// such as `<success/>` are meant literally.
#![allow(rustdoc::invalid_html_tags)]

/// `println!` that ignores a closed stdout (`xmpp demo | head`) instead of
/// panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod bench;
mod cli;
mod demo;
mod discover;
mod duration;
mod exit;
mod login;
mod password;
mod probe;
mod route;
mod send;
mod serve;
mod shell;
mod store;
mod tls;
mod token_file;
mod transcript;
mod user;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        // Its own runtime or runtimes (--threads): see serve::main.
        Command::Serve(a) => serve::main(a),
        command => run(command),
    };
    if let Err(f) = result {
        if !f.message.is_empty() {
            eprintln!("xmpp: {}", f.message);
        }
        std::process::exit(f.code as i32);
    }
}

/// Runs every command but `serve` on a multi-thread runtime with the
/// default worker count, the command run by `block_on`.
fn run(command: Command) -> exit::CmdResult {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xmpp: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::User(cmd) => user::run(cmd).await,
            Command::Serve(_) => unreachable!("serve runs on its own runtimes"),
            Command::Demo(a) => demo::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Login(a) => login::run(a).await,
            Command::Send(a) => send::run(a).await,
            Command::Shell(a) => shell::run(a).await,
            Command::Probe(a) => probe::run(a).await,
        }
    });
    // Do not wait for lingering blocking tasks (a prompt, a slow peer).
    runtime.shutdown_background();
    result
}
