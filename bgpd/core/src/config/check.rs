//! The word checks that every configuration mode shares: whether a mode
//! knew a line, free text, interface names, AS numbers and bounded
//! integers, and the mask that stands in for a password.

/// Linux interface names are at most IFNAMSIZ - 1 bytes.
pub const MAX_IFNAME: usize = 15;

/// What `show running-config` prints instead of a password for a caller
/// other than root, and what log lines print instead of one. The parser
/// refuses it as a password, so a pasted masked config cannot set it.
pub const PASSWORD_MASK: &str = "<hidden>";

/// Whether a mode knew a line (errors are separate: a known line can be bad).
pub enum Handled {
    Yes,
    No,
}

/// A free-text field (a description): no control character, tabs
/// included.
pub fn check_text(what: &str, text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "{what}: control character U+{:04X} is not allowed",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// A Linux interface name: 1 to [`MAX_IFNAME`] bytes, no slash, colon,
/// space or control byte, not `.` or `..`.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IFNAME {
        return Err(format!(
            "invalid interface name \"{name}\": 1 to {MAX_IFNAME} characters"
        ));
    }
    if name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == b':' || b <= b' ') {
        return Err(format!("invalid interface name \"{name}\""));
    }
    Ok(())
}

/// An AS number: asplain, or asdot (RFC 5396) "X.Y"; AS 0 is refused.
pub fn parse_asn(s: &str) -> Result<u32, String> {
    // asplain, or asdot (RFC 5396) "X.Y".
    let v = if let Some((hi, lo)) = s.split_once('.') {
        let hi: u16 = hi
            .parse()
            .map_err(|_| format!("invalid AS number \"{s}\""))?;
        let lo: u16 = lo
            .parse()
            .map_err(|_| format!("invalid AS number \"{s}\""))?;
        (u32::from(hi) << 16) | u32::from(lo)
    } else {
        s.parse::<u32>()
            .map_err(|_| format!("invalid AS number \"{s}\" (1..4294967295)"))?
    };
    if v == 0 {
        return Err("AS 0 is reserved (RFC 7607)".into());
    }
    Ok(v)
}

/// An integer in `min..=max`, `what` naming it in the error.
pub fn parse_u16(s: &str, what: &str, min: u16, max: u16) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(format!("invalid {what} \"{s}\" ({min}..{max})")),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asdot_and_bounds() {
        assert_eq!(parse_asn("65000"), Ok(65000));
        assert_eq!(parse_asn("1.10"), Ok(65546));
        assert!(parse_asn("0").is_err());
        assert!(parse_asn("4294967296").is_err());
        assert_eq!(parse_u16("9", "hold", 3, 65535), Ok(9));
        assert!(parse_u16("2", "hold", 3, 65535).is_err());
    }

    #[test]
    fn interface_names() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a-very-long-name0").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}
