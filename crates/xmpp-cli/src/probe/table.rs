//! The report as a table for people: one line per check under its subject,
//! the level coloured on a terminal, then the fixes and the verdict.

use anstyle::{AnsiColor, Style};

use super::report::{Level, Report};

fn style(level: Level) -> Style {
    let color = match level {
        Level::Ok => AnsiColor::Green,
        Level::Warning => AnsiColor::Yellow,
        Level::Error => AnsiColor::Red,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

fn word(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

/// Writes `report` to stdout; colours only on a terminal (and never with
/// `NO_COLOR`), which anstream decides.
pub fn print(report: &Report) {
    let mut out = anstream::stdout();
    let _ = write_to(&mut out, report);
}

fn write_to(out: &mut impl std::io::Write, report: &Report) -> std::io::Result<()> {
    let heading = Style::new().bold();
    match &report.jid {
        Some(jid) => writeln!(
            out,
            "{heading}xmpp probe {} (as {jid}){heading:#}",
            report.domain
        )?,
        None => writeln!(out, "{heading}xmpp probe {}{heading:#}", report.domain)?,
    }
    let mut subject: Option<&str> = None;
    for c in &report.checks {
        if subject != Some(c.subject.as_str()) {
            writeln!(out)?;
            let title = match c.subject.as_str() {
                "dns" => match &report.dns {
                    Some(d) => format!("DNS (resolver: {})", d.resolver),
                    None => "DNS".to_owned(),
                },
                "login" => "Login".to_owned(),
                other => other.to_owned(),
            };
            writeln!(out, "{heading}{title}{heading:#}")?;
            subject = Some(c.subject.as_str());
        }
        let s = style(c.level);
        writeln!(out, "  {s}{:<8}{s:#} {}", word(c.level), c.message)?;
    }
    if !report.fixes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{heading}To fix{heading:#}")?;
        for f in &report.fixes {
            writeln!(out, "  - {f}")?;
        }
    }
    let count = |l: Level| report.checks.iter().filter(|c| c.level == l).count();
    let s = style(report.verdict);
    writeln!(out)?;
    writeln!(
        out,
        "verdict: {s}{}{s:#} ({} errors, {} warnings)",
        word(report.verdict),
        count(Level::Error),
        count(Level::Warning)
    )
}
