//! How numbers and errors are shown in messages: one line, short numbers.

/// The longest error line printed, in characters.
pub const MAX_LINE: usize = 200;

/// Collapses a message onto one line of at most [`MAX_LINE`] characters.
pub fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_LINE {
        line
    } else {
        let mut t: String = line.chars().take(MAX_LINE - 1).collect();
        t.push('…');
        t
    }
}

/// A number as shown in messages: plain for moderate magnitudes, else in exponent form with at
/// most 7 significant digits (never the 300-digit expansion of a large f64).
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-4..1e7).contains(&a) {
        let s = format!("{v:.7}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else if v.is_finite() {
        let s = format!("{v:.6e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_messages_are_short() {
        assert_eq!(num(1e308), "1e308");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1.1000002), "1.1000002");
        assert_eq!(num(-2.5e-9), "-2.5e-9");
        assert_eq!(one_line(&"x ".repeat(500)).chars().count(), MAX_LINE);
    }
}
