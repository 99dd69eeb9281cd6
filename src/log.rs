//! runc-shaped logging: `time=… level=… msg=…` text or one JSON object a
//! line, to `--log FILE` (appended) or stderr.

use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once, at start-up.
pub fn init(path: Option<&str>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) if !p.is_empty() => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        _ => None,
    };
    let _ = LOGGER.set(Logger { file, format, debug });
    Ok(())
}

/// Whether errors go to a file (then they are also printed plainly on stderr).
pub fn to_file() -> bool {
    LOGGER.get().is_some_and(|l| l.file.is_some())
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

pub fn line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            format!("{{\"level\":{},\"msg\":{},\"time\":{}}}\n", quote(level), quote(msg), quote(time))
        }
        Format::Text => format!("time={} level={level} msg={}\n", quote(time), quote(msg)),
    }
}

fn emit(level: &str, msg: &str) {
    let (format, file) = match LOGGER.get() {
        Some(l) => (l.format, l.file.as_ref()),
        None => (Format::Text, None),
    };
    let text = line(format, level, msg, &crate::timefmt::now());
    match file {
        Some(mut f) => {
            let _ = f.write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
}

pub fn error(msg: &str) {
    emit("error", msg);
}

/// Logs a command's error once: to the log, and plainly on stderr too when
/// the log is a file (as runc does).
pub fn report(e: &anyhow::Error) {
    let msg = format!("{e:#}");
    error(&msg);
    if to_file() {
        eprintln!("{msg}");
    }
}

pub fn warn(msg: &str) {
    emit("warning", msg);
}

pub fn debug(msg: &str) {
    if debug_enabled() {
        emit("debug", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_runc() {
        assert_eq!(
            line(Format::Json, "error", "container \"x\" does not exist", "T"),
            "{\"level\":\"error\",\"msg\":\"container \\\"x\\\" does not exist\",\"time\":\"T\"}\n"
        );
        assert_eq!(line(Format::Text, "debug", "hi", "T"), "time=\"T\" level=debug msg=\"hi\"\n");
    }
}
