//! `xmpp shell`: an interactive session. Lines typed (or piped) are
//! stanzas or short commands; incoming stanzas are printed as they arrive.
//!
//! The parts: `command` and `xml` turn lines into actions (no I/O),
//! `stanza` makes the commands' stanzas, `input` reads lines (a line
//! editor on a terminal, plain lines otherwise), `console` writes,
//! `connect` logs in and decides what a lost stream means, and `session`
//! ties them together.

mod command;
mod connect;
mod console;
mod input;
mod session;
mod stanza;
mod xml;

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::cli::{ConnectArgs, ShellArgs};
use crate::exit::{CmdResult, Code, Failure};

use self::connect::Connector;
use self::console::{Console, Routing};
use self::input::Input;
use self::session::{Outcome, Session};

/// Runs `xmpp shell`.
pub async fn run(args: ShellArgs) -> CmdResult {
    let ShellArgs {
        jid,
        wait,
        reconnect,
        connect,
    } = args;
    // On a terminal the editor exists before the login (its printer is the
    // console's), but reads nothing until the session asks for a line. A
    // pipe is read only after the login, which may take the password from
    // its first line.
    let (input, printer) = if std::io::stdin().is_terminal() {
        let (input, printer) = Input::terminal().map_err(|e| Failure::new(Code::Other, e))?;
        (Some(input), printer)
    } else {
        (None, None)
    };
    let routing = Routing {
        stanzas: std::io::stdout().is_terminal(),
        status: std::io::stderr().is_terminal(),
    };
    let (console, writer) = Console::start(printer.map(|p| (p, routing)));
    let result = session(jid, connect, input, console, wait, reconnect).await;
    writer.finish();
    result
}

/// Logs in and runs the session until it is closed, or lost for good.
async fn session(
    jid: String,
    args: ConnectArgs,
    input: Option<Input>,
    console: Console,
    wait: Duration,
    reconnect: u32,
) -> CmdResult {
    let mut connector = Connector::new(jid, args, console.clone(), reconnect);
    let mut stream = connector.connect().await?;
    // With --password-stdin the login took the first line.
    let before = u64::from(connector.args().password_stdin);
    let input = match input {
        Some(terminal) => {
            console.status("type stanzas or commands; /help lists the commands");
            terminal
        }
        None => Input::piped(before),
    };
    let ack_timeout = connector.args().timeout;
    let mut session = Session::new(input, console, wait, ack_timeout);
    loop {
        match session.drive(&mut stream).await {
            Outcome::Closed => return Ok(()),
            Outcome::Lost(lost) => stream = connector.recover(stream, lost).await?,
        }
    }
}
