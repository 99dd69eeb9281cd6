//! Reading facts about processes from /proc.

/// (state letter, start time in clock ticks) of `pid`, from /proc/PID/stat.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

pub fn parse_stat(s: &str) -> Option<(char, u64)> {
    // The command name may hold spaces and parentheses: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of the whole line is the 20th after "pid (comm)".
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is the same, still living process that started at `start`.
pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && matches!(stat(pid), Some((st, s)) if s == start && st != 'Z' && st != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_command_names() {
        let line = "42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 123456)));
    }

    #[test]
    fn own_process_is_alive() {
        let me = std::process::id() as i32;
        let (_, start) = stat(me).unwrap();
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
    }
}
