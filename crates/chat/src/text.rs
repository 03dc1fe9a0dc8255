//! Text from the server made safe for one terminal line.

/// Control characters removed, for names and labels.
pub(crate) fn clean(s: &str) -> String {
    one_line(s, usize::MAX)
}

/// `s` on one line: control characters become spaces, at most `max` characters (then `…`).
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut outp = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            outp.push('…');
            break;
        }
        outp.push(if c.is_control() { ' ' } else { c });
    }
    outp
}
