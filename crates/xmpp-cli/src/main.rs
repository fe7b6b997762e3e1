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
    // A multi-thread runtime with the default worker count and the command
    // run by block_on: measured against a current_thread runtime, one worker,
    // and the command spawned onto a worker (sessions then share the accept
    // loop's worker), those save 5-10 us of server CPU per login but cap the
    // server near one core, and the login rate under `xmpp bench` dropped.
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
        match cli.command {
            Command::User(cmd) => user::run(cmd).await,
            Command::Serve(a) => serve::run(a).await,
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
    if let Err(f) = result {
        if !f.message.is_empty() {
            eprintln!("xmpp: {}", f.message);
        }
        std::process::exit(f.code as i32);
    }
}
